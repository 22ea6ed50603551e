"""Apache ZooKeeper's own CLI (zkCli.sh from Debian's `zookeeper` package) against the server, one
command per invocation, output checked line by line. A missing zkCli.sh is a failure, not a skip:
CI installs the package."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

DEBIAN_ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"
STAT_KEYS = [
    "cZxid",
    "ctime",
    "mZxid",
    "mtime",
    "pZxid",
    "cversion",
    "dataVersion",
    "aclVersion",
    "ephemeralOwner",
    "dataLength",
    "numChildren",
]
NOISE = re.compile(r"^(Connecting to .*|WATCHER::|WatchedEvent state:.*|Welcome to ZooKeeper!|JLine support .*|)$")


def zkcli_path():
    found = os.environ.get("ZKCLI") or shutil.which("zkCli.sh") or DEBIAN_ZKCLI
    if not Path(found).is_file():
        pytest.fail(f"zkCli.sh not found ({found}): install Debian's `zookeeper` package")
    return found


@pytest.fixture
def cli(server):
    path = zkcli_path()

    def run(*args, expect_rc=0):
        result = subprocess.run(
            [path, "-server", server.hosts, *args],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        out = [line for line in result.stdout.splitlines() if not NOISE.match(line)]
        err = [line for line in result.stderr.splitlines() if not line.startswith("SLF4J:") and line.strip()]
        assert result.returncode == expect_rc, (args, result.returncode, out, err)
        return out, err

    return run


def parse_stat(lines):
    assert [line.split(" = ")[0] for line in lines] == STAT_KEYS, lines
    return dict(line.split(" = ", 1) for line in lines)


def test_zkcli_session(cli, zk):
    out, err = cli("create", "/cli", "hello")
    assert (out, err) == ([], ["Created /cli"])

    out, _ = cli("get", "-s", "/cli")
    assert out[0] == "hello"
    stat = parse_stat(out[1:])
    expected = zk.exists("/cli")
    assert stat["cZxid"] == stat["mZxid"] == stat["pZxid"] == hex(expected.czxid)
    assert (stat["cversion"], stat["dataVersion"], stat["aclVersion"]) == ("0", "0", "0")
    assert (stat["ephemeralOwner"], stat["dataLength"], stat["numChildren"]) == ("0x0", "5", "0")
    assert re.fullmatch(r"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \w+ \d{4}", stat["ctime"])

    out, _ = cli("set", "/cli", "world")
    assert out == []
    out, _ = cli("get", "/cli")
    assert out == ["world"]

    cli("create", "/cli/a", "1")
    out, err = cli("create", "-s", "/cli/seq-", "x")
    assert err == ["Created /cli/seq-0000000001"]
    out, _ = cli("ls", "/cli")
    assert out == ["[a, seq-0000000001]"]
    out, _ = cli("ls", "-s", "/cli")
    assert out[0] == "[a, seq-0000000001]"
    stat = parse_stat(out[1:])
    assert (stat["numChildren"], stat["cversion"], stat["dataVersion"]) == ("2", "2", "1")

    out, _ = cli("getAcl", "/cli")
    assert out == ["'world,'anyone", ": cdrwa"]
    out, _ = cli("setAcl", "/cli/a", "ip:127.0.0.1:cdrwa,world:anyone:r")
    assert out == []
    out, _ = cli("getAcl", "/cli/a")
    assert out == ["'ip,'127.0.0.1", ": cdrwa", "'world,'anyone", ": r"]
    assert zk.get_acls("/cli/a")[1].aversion == 1

    out, _ = cli("stat", "/cli/a")
    assert parse_stat(out)["aclVersion"] == "1"

    out, err = cli("get", "/nothere", expect_rc=1)
    assert err == ["Node does not exist: /nothere"]

    cli("delete", "/cli/a")
    out, _ = cli("ls", "/cli")
    assert out == ["[seq-0000000001]"]
    cli("deleteall", "/cli")
    assert zk.exists("/cli") is None


def test_zkcli_ephemeral_and_version_checks(cli, zk):
    cli("create", "/cli2", "v0")
    out, err = cli("set", "-v", "5", "/cli2", "v1", expect_rc=1)
    assert err == ["version No is not valid : /cli2"]
    cli("set", "-v", "0", "/cli2", "v1")
    assert zk.get("/cli2")[0] == b"v1"
    out, err = cli("create", "-e", "/cli2/eph", "e")
    assert err == ["Created /cli2/eph"]
    # zkCli exits without closing its session, so the ephemeral lives until that session expires.
    owner = zk.exists("/cli2/eph").ephemeralOwner
    assert owner not in (0, zk.client_id[0])
    out, err = cli("delete", "/zookeeper", expect_rc=1)
    assert any("/zookeeper" in line for line in err), err


def test_zkcli_quota_stats_follow_the_subtree(cli, zk):
    """`setquota` writes the limits and a zero stats node; the server counts the subtree into
    the stats node and keeps it current as nodes come and go, which `listquota` shows."""
    zk.create("/quota-app", b"12345")
    zk.create("/quota-app/a", b"xy")
    out, err = cli("setquota", "-n", "3", "/quota-app")
    assert out == [] and not [line for line in err if "rror" in line], (out, err)
    out, _ = cli("listquota", "/quota-app")
    assert out == [
        "Output quota for /quota-app count=3,bytes=-1=;byteHardLimit=-1;countHardLimit=-1",
        "Output stat for /quota-app count=2,bytes=7",
    ]
    zk.create("/quota-app/b", b"abc")
    zk.create("/quota-app/b/c")
    zk.set("/quota-app/a", b"")
    zk.delete("/quota-app/b/c")
    stats, stat = zk.get("/zookeeper/quota/quota-app/zookeeper_stats")
    assert stats == b"count=3,bytes=8"
    assert stat.version == 0, "the server rewrites the stats in place"
    # Soft limits are not enforced: a fourth and fifth node are allowed.
    zk.create("/quota-app/d")
    zk.create("/quota-app/e")
    out, _ = cli("listquota", "/quota-app")
    assert out[-1] == "Output stat for /quota-app count=5,bytes=8"
    cli("delquota", "/quota-app")
    zk.create("/quota-app/f")
    assert zk.exists("/zookeeper/quota/quota-app/zookeeper_limits") is None
