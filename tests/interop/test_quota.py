"""Quotas as ZooKeeper keeps them: limits and stats nodes under /zookeeper/quota, the stats kept
current by the server, hard limits refused with QUOTAEXCEEDED under enforceQuota, and the stats
recounted when the server starts again from a snapshot and its log."""

import pytest
from kazoo.exceptions import QuotaExceededError

LIMITS = "/zookeeper/quota{}/zookeeper_limits"
STATS = "/zookeeper/quota{}/zookeeper_stats"


def set_quota(client, path, limits):
    """What zkCli's setquota does: the limits, then a zero stats node the server recounts."""
    client.ensure_path(f"/zookeeper/quota{path}")
    client.create(LIMITS.format(path), limits.encode())
    client.create(STATS.format(path), b"count=0,bytes=0")


def stats(client, path):
    return client.get(STATS.format(path))[0].decode()


def test_hard_limits_refuse_writes_when_quotas_are_enforced(make_server, clients):
    server = make_server(enforceQuota="true")
    zk = clients.kazoo(server)
    zk.create("/hard", b"1")
    set_quota(zk, "/hard", "count=-1,bytes=-1=;byteHardLimit=10;countHardLimit=3")
    zk.create("/hard/a", b"22")
    zk.create("/hard/b")
    with pytest.raises(QuotaExceededError):
        zk.create("/hard/c")
    with pytest.raises(QuotaExceededError):
        zk.set("/hard/a", b"0123456789")
    zk.set("/hard/a", b"012345678")
    assert stats(zk, "/hard") == "count=3,bytes=10"
    zk.delete("/hard/b")
    zk.create("/hard/c")
    assert stats(zk, "/hard") == "count=3,bytes=10"


def test_soft_limits_are_only_logged_and_quotas_are_off_by_default(make_server, clients):
    server = make_server()
    zk = clients.kazoo(server)
    zk.create("/soft")
    set_quota(zk, "/soft", "count=-1,bytes=-1=;countHardLimit=1")
    for name in "abc":
        zk.create(f"/soft/{name}")
    assert stats(zk, "/soft") == "count=4,bytes=0"


@pytest.mark.parametrize("snap_count", [None, "100"], ids=["log-only", "with-snapshots"])
def test_stats_are_right_after_a_restart(make_server, clients, snap_count):
    server = make_server(snapCount=snap_count)
    zk = clients.kazoo(server)
    zk.create("/kept", b"abc")
    set_quota(zk, "/kept", "count=1000,bytes=-1")
    for i in range(300):
        zk.create(f"/kept/n{i}", b"xy")
    for i in range(0, 300, 3):
        zk.delete(f"/kept/n{i}")
    assert stats(zk, "/kept") == "count=201,bytes=403"
    server.kill()
    server.start()
    zk = clients.kazoo(server)
    assert stats(zk, "/kept") == "count=201,bytes=403"
    zk.create("/kept/after", b"1")
    assert stats(zk, "/kept") == "count=202,bytes=404"
