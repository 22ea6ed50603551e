"""The AdminServer over HTTP (admin-and-4lw.md §2): ZooKeeper's commands as JSON, checked against
the state a real client leaves behind."""

import json
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from zkensemble import Ensemble
from zkserver import ZkServer, four_letter_word, free_port, wait_until


def admin_config(port):
    return {
        "admin.enableServer": "true",
        "admin.serverAddress": "127.0.0.1",
        "admin.serverPort": str(port),
    }


def fetch(port, path, method="GET"):
    """(status, content type, body text) of one request."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read().decode()


def command(port, name):
    status, content_type, body = fetch(port, f"/commands/{name}")
    assert status == 200
    assert content_type.startswith("application/json")
    return json.loads(body)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Overrides conftest's module server: a standalone server with its AdminServer on, on
    `server.admin_port`. conftest's `clients` and `zk` fixtures use it."""
    port = free_port()
    server = ZkServer(tmp_path_factory.mktemp("admin-server"), admin_config(port))
    server.admin_port = port
    try:
        server.start()
        yield server
    finally:
        server.stop()


def test_ruok_and_the_command_index(server):
    port = server.admin_port
    status, content_type, body = fetch(port, "/commands/ruok")
    assert status == 200 and content_type.startswith("application/json")
    # Jackson's pretty printer, as ZooKeeper's servlet prints it.
    assert body == '{\n  "command" : "ruok",\n  "error" : null\n}'
    status, _, index = fetch(port, "/commands")
    assert status == 200
    names = [line.split('">')[1].split("<")[0] for line in index.splitlines() if line.startswith("<a ")]
    assert names == sorted(names)
    assert {"ruok", "monitor", "server_stats", "dump", "watch_summary", "voting_view"} <= set(names)
    assert '<a href="/commands/ruok">ruok</a>' in index
    assert fetch(port, "/commands/")[2] == index


def test_stats_list_the_client_connection_and_its_session(server, zk):
    port = server.admin_port
    zk.ensure_path("/admin-stats")
    created = zk.exists("/admin-stats").czxid
    session_id = zk.client_id[0]
    cons = command(port, "cons")
    assert cons["command"] == "connections"
    mine = [c for c in cons["connections"] if c["session_id"] == session_id]
    assert len(mine) == 1
    mine = mine[0]
    assert mine["remote_socket_address"].startswith("127.0.0.1:")
    assert mine["packets_received"] >= 2 and mine["session_timeout"] > 0
    assert mine["last_zxid"] >= created
    stats = command(port, "stats")
    assert stats["command"] == "stats" and stats["error"] is None
    assert stats["server_stats"]["server_state"] == "standalone"
    assert stats["server_stats"]["num_alive_client_connections"] >= 1
    assert stats["server_stats"]["last_processed_zxid"] >= created
    srvr_text = four_letter_word(server.port, "srvr")
    node_count = next(line for line in srvr_text.splitlines() if line.startswith("Node count:"))
    assert stats["node_count"] == int(node_count.split(":")[1])
    # The brief form: no session fields.
    brief = [c for c in stats["connections"] if c["remote_socket_address"] == mine["remote_socket_address"]]
    assert len(brief) == 1 and "session_id" not in brief[0]
    assert stats["secure_connections"] == []
    srvr = command(port, "srvr")
    assert srvr["command"] == "server_stats" and "connections" not in srvr
    responses = srvr["server_stats"]["client_response_stats"]
    assert responses["max_buffer_size"] >= responses["min_buffer_size"] >= 16
    assert srvr["client_response"].keys() == responses.keys()
    assert srvr["server_stats"]["fsync_threshold_exceed_count"] == 0


def test_dump_and_watch_commands_show_ephemerals_and_watches(server, zk):
    port = server.admin_port
    session_id = zk.client_id[0]
    zk.create("/admin-eph", b"x", ephemeral=True)
    zk.get("/admin-eph", watch=lambda event: None)
    dump = command(port, "dump")
    assert dump["session_id_to_ephemeral_paths"][str(session_id)] == ["/admin-eph"]
    expiring = [sid for sids in dump["expiry_time_to_session_ids"].values() for sid in sids]
    assert session_id in expiring
    assert all(key.isdigit() for key in dump["expiry_time_to_session_ids"])
    assert command(port, "wchc")["session_id_to_watched_paths"][str(session_id)] == ["/admin-eph"]
    assert session_id in command(port, "wchp")["path_to_session_ids"]["/admin-eph"]
    summary = command(port, "wchs")
    assert summary["command"] == "watch_summary"
    assert summary["num_paths"] >= 1 and summary["num_total_watches"] >= 1 and summary["num_connections"] >= 1


def test_monitor_has_mntr_keys_as_json_numbers(server):
    port = server.admin_port
    mntr = dict(
        line.split("\t", 1) for line in four_letter_word(server.port, "mntr").splitlines() if "\t" in line
    )
    monitor = command(port, "monitor")
    assert monitor["command"] == "monitor" and monitor["error"] is None
    assert {f"zk_{key}" for key in monitor if key not in ("command", "error")} == set(mntr)
    assert monitor["server_state"] == "standalone"
    assert isinstance(monitor["znode_count"], int) and monitor["znode_count"] >= 5
    assert isinstance(monitor["avg_latency"], float)
    assert monitor["version"] == mntr["zk_version"]


def test_configuration_arguments_aliases_and_errors(server):
    port = server.admin_port
    conf = command(port, "conf")
    assert conf["command"] == "configuration"
    assert conf["client_port"] == server.port and conf["tick_time"] == 500
    assert list(conf)[-2:] == ["command", "error"]
    assert f"clientPort={server.port}" in command(port, "icfg")["initial_configuration"]
    assert command(port, "stmk?traceMask=306")["tracemask"] == 306
    assert command(port, "gtmk")["tracemask"] == 306
    assert four_letter_word(server.port, "gtmk") == "306"
    bad = command(port, "stmk?traceMask=abc")
    assert bad["error"] == "setTraceMask requires long traceMask argument, got abc"
    assert command(port, "nope") == {"command": "nope", "error": "Unknown command: nope"}
    assert command(port, "isro") == {"read_only": False, "command": "is_read_only", "error": None}
    assert command(port, "lead") == {"error": "server is not initialized", "command": "leader"}
    assert command(port, "zabstate") == {"voting": False, "zabstate": "", "command": "zabstate", "error": None}
    assert command(port, "voting_view")["current_config"] == {}
    assert fetch(port, "/commands/ruok", method="POST")[0] == 405
    assert fetch(port, "/elsewhere")[0] == 404


def test_a_busy_admin_port_leaves_the_server_serving(make_server, clients):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = make_server(**admin_config(port))
        zk = clients.kazoo(server=server)
        zk.create("/still-serving", b"yes")
        assert zk.get("/still-serving")[0] == b"yes"
        assert "AdminServer not started" in server.log_tail()


def test_the_admin_server_can_be_turned_off(make_server):
    port = free_port()
    server = make_server(**{**admin_config(port), "admin.enableServer": "false"})
    assert four_letter_word(server.port, "ruok") == "imok"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def ensemble_with_admin(root, **options):
    """An (unstarted) ensemble whose every member serves the AdminServer; its ports by sid."""
    ensemble = Ensemble(root, **options)
    ports = {}
    for member in ensemble.members:
        ports[member.sid] = free_port()
        member.config.update(admin_config(ports[member.sid]))
    return ensemble, ports


def test_an_ensemble_reports_its_leader_votes_and_zab_state(tmp_path_factory):
    ensemble, ports = ensemble_with_admin(tmp_path_factory.mktemp("admin-trio"), voters=3)
    try:
        ensemble.start()

        def settled():
            states = {sid: command(port, "zabstate") for sid, port in ports.items()}
            return states if all(s["zabstate"] == "broadcast" for s in states.values()) else None

        states = wait_until(settled, timeout=30, message="every member in broadcast")
        leads = {sid: command(port, "leader") for sid, port in ports.items()}
        leaders = [sid for sid, lead in leads.items() if lead["is_leader"]]
        assert len(leaders) == 1
        assert {lead["leader_id"] for lead in leads.values()} == set(leaders)
        assert all(lead["leader_ip"] == "127.0.0.1" and lead["error"] is None for lead in leads.values())
        for member in ensemble.members:
            state = states[member.sid]
            assert state["myid"] == member.sid and state["voting"] is True
            assert state["is_leader"] == (member.sid in leaders)
            assert state["quorum_address"] == f"127.0.0.1:{member.quorum_port}"
            zxid = int(state["last_zxid"], 16)
            assert (state["zab_epoch"], state["zab_counter"]) == (zxid >> 32, zxid & 0xFFFFFFFF)
            view = command(ports[member.sid], "voting_view")["current_config"]
            assert set(view) == {"1", "2", "3"}
            for other in ensemble.members:
                entry = view[str(other.sid)]
                assert entry["server_addresses"] == [f"127.0.0.1:{other.quorum_port}"]
                assert entry["election_addresses"] == [f"127.0.0.1:{other.election_port}"]
                assert entry["learner_type"] == "participant"
        follower = next(sid for sid in ports if sid not in leaders)
        assert command(ports[follower], "dump")["expiry_time_to_session_ids"] == {}
        assert command(ports[leaders[0]], "srvr")["proposal_stats"]["max_buffer_size"] >= -1
    finally:
        ensemble.stop()


def test_members_record_the_same_tree_digests(tmp_path_factory, clients):
    """`hash` lists ZooKeeper's tree digest after every 128th transaction. Members that applied
    the same history, one of them killed midway and caught up on restart, record the same
    digests; a write changes the next one; and no member's tree after a proposal differed from
    the digest the leader prepared it with."""
    ensemble, ports = ensemble_with_admin(tmp_path_factory.mktemp("admin-digests"), voters=3)
    try:
        ensemble.start()
        leader = ensemble.leader()
        late = ensemble.followers()[0]
        writers = {m.sid: clients.kazoo(server=m) for m in ensemble.members if m is not late}
        writers[leader.sid].ensure_path("/d")
        for i in range(150):
            writer = list(writers.values())[i % len(writers)]
            writer.create(f"/d/n{i}", str(i).encode(), ephemeral=i % 10 == 0)
        late.kill()
        for i in range(150):
            writer = list(writers.values())[i % len(writers)]
            if i % 3 == 0:
                writer.set(f"/d/n{i}", b"changed")
            elif i % 3 == 1:
                transaction = writer.transaction()
                transaction.create(f"/d/t{i}", b"t")
                transaction.delete(f"/d/n{i}")
                transaction.commit()
            else:
                writer.set_acls(f"/d/n{i}", writer.get_acls(f"/d/n{i}")[0])
        late.start()
        writers[late.sid] = clients.kazoo(server=late)
        for i in range(150, 300):
            list(writers.values())[i % 3].create(f"/d/n{i}", b"late")
        for writer in writers.values():
            writer.sync("/")
        last_zxid = max(writer.exists("/d").pzxid for writer in writers.values())

        def recorded():
            lists = {sid: command(port, "hash")["digests"] for sid, port in ports.items()}
            caught_up = all(
                entries and entries[-1]["zxid"] >= (last_zxid // 128) * 128
                for entries in lists.values()
            )
            return lists if caught_up else None

        lists = wait_until(recorded, timeout=20, message="every member's digest at the last write")
        by_member = {
            sid: {entry["zxid"]: entry["digest"] for entry in entries}
            for sid, entries in lists.items()
        }
        for sid, entries in lists.items():
            zxids = [entry["zxid"] for entry in entries]
            assert zxids == sorted(zxids) and all(zxid % 128 == 0 for zxid in zxids), sid
            assert all(entry["digestVersion"] == 2 for entry in entries)
        common = set.intersection(*(set(digests) for digests in by_member.values()))
        assert len(common) >= 2, by_member
        for zxid in common:
            assert len({digests[zxid] for digests in by_member.values()}) == 1, zxid
        # Digests differ from one record to the next: they follow the writes.
        ordered = [by_member[leader.sid][zxid] for zxid in sorted(common)]
        assert len(set(ordered)) == len(ordered)
        # Every member checked each proposal's digest against its tree after applying it.
        for sid, port in ports.items():
            assert command(port, "monitor")["digest_mismatches_count"] == 0, sid
    finally:
        ensemble.stop()


def test_the_leader_lists_its_observers(tmp_path_factory, clients):
    """`observers` on the leader describes each connected observer (ZooKeeper's LearnerHandler
    info); other members list none; `orst` zeroes the observers' counters."""
    ensemble, ports = ensemble_with_admin(
        tmp_path_factory.mktemp("admin-observed"), voters=3, observers=1
    )
    try:
        ensemble.start()
        leader = ensemble.leader()
        observer = next(member for member in ensemble.members if member.sid == 4)
        writer = clients.kazoo(server=observer)
        for i in range(5):
            writer.create(f"/observed-{i}", b"x")

        def listed():
            reply = command(ports[leader.sid], "observers")
            entries = reply["observers"]
            return reply if entries and entries[0]["requests"] >= 5 else None

        reply = wait_until(listed, timeout=10, message="the observer's forwarded writes counted")
        assert reply["synced_observers"] == 1 and reply["error"] is None
        (entry,) = reply["observers"]
        assert entry["sid"] == 4
        assert entry["remote_socket_address"].startswith("127.0.0.1:")
        assert entry["packets_sent"] > 5 and entry["packets_received"] >= 5
        assert entry["last_zxid"] >= writer.exists("/observed-4").mzxid
        assert entry["established"] > 0 and entry["queued_packets"] >= 0
        for member in ensemble.members:
            if member is not leader:
                assert command(ports[member.sid], "observers")["observers"] == []
        assert command(ports[leader.sid], "orst")["error"] is None
        (entry,) = command(ports[leader.sid], "observers")["observers"]
        assert entry["requests"] == 0
        assert entry["packets_sent"] < 5
    finally:
        ensemble.stop()


def test_tls_connections_are_listed_as_secure(make_server, clients):
    """A session on the TLS client port shows under `secure_connections`, a plain one under
    `connections`; conf reports the TLS port."""
    admin_port, secure_port = free_port(), free_port()
    key_store = Path(__file__).parent / "certs" / "server.pem"
    server = make_server(
        **admin_config(admin_port),
        secureClientPort=str(secure_port),
        **{"ssl.keyStore.location": str(key_store), "ssl.clientAuth": "none"},
    )
    plain = clients.kazoo(server=server)
    secure = KazooClient(hosts=f"127.0.0.1:{secure_port}", use_ssl=True, verify_certs=False, timeout=10.0)
    secure.start(timeout=15)
    try:
        secure.create("/over-tls", b"x")
        for name, brief in (("cons", False), ("stats", True)):
            reply = command(admin_port, name)
            assert len(reply["secure_connections"]) == 1
            listed = [c["remote_socket_address"] for c in reply["connections"]]
            assert reply["secure_connections"][0]["remote_socket_address"] not in listed
            if not brief:
                assert reply["secure_connections"][0]["session_id"] == secure.client_id[0]
                assert plain.client_id[0] in [c["session_id"] for c in reply["connections"]]
        conf = four_letter_word(server.port, "conf")
        assert f"secureClientPort={secure_port}\n" in conf
    finally:
        secure.stop()
        secure.close()


def test_connections_beyond_the_limit_wait_their_turn(make_server):
    """64 idle connections take every slot; the next request is answered once one closes, and
    the client port serves throughout."""
    port = free_port()
    server = make_server(**admin_config(port))
    idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(64)]
    try:
        # The server accepts connections as slots free up; give it a moment to take all 64.
        wait_until(lambda: command_times_out(port), timeout=10, message="all slots taken")
        assert four_letter_word(server.port, "ruok") == "imok"
    finally:
        for sock in idle:
            sock.close()
    assert command(port, "ruok")["error"] is None


def command_times_out(port):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/commands/ruok", timeout=1).read()
        return False
    except (TimeoutError, urllib.error.URLError):
        return True


def test_a_member_without_a_quorum_answers_only_what_needs_no_server(tmp_path_factory):
    """Two of three members gone: the last one looks for a leader. Commands that need a
    running server answer ZooKeeper's "not currently serving" error under the name asked
    for; monitor, environment and zabstate still answer."""
    ensemble = Ensemble(tmp_path_factory.mktemp("admin-lonely"), voters=3)
    port = free_port()
    survivor = ensemble.members[0]
    survivor.config.update(admin_config(port))
    try:
        ensemble.start()
        for member in ensemble.members[1:]:
            member.kill()
        wait_until(lambda: survivor.mode() is None, timeout=30, message="the survivor to look")
        not_serving = "This ZooKeeper instance is not currently serving requests"
        assert command(port, "srvr") == {"command": "srvr", "error": not_serving}
        assert command(port, "ruok") == {"command": "ruok", "error": not_serving}
        monitor = command(port, "monitor")
        assert monitor["error"] is None and monitor["server_state"] == "looking"
        assert command(port, "envi")["command"] == "environment"
        state = command(port, "zabstate")
        assert state["zabstate"] == "election" and state["voting"] is True
    finally:
        ensemble.stop()


PROMETHEUS = "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider"


def test_prometheus_endpoint_serves_mntr_figures(make_server, clients):
    """ZooKeeper's Prometheus provider: /metrics in the text format, named like mntr's keys."""
    port = free_port()
    server = make_server(
        **{
            "metricsProvider.className": PROMETHEUS,
            "metricsProvider.httpHost": "127.0.0.1",
            "metricsProvider.httpPort": str(port),
        }
    )
    zk = clients.kazoo(server)
    for k in range(3):
        zk.create(f"/prom{k}", b"x")
    status, content_type, body = fetch(port, "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    samples, types = {}, {}
    for line in body.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
        elif line.startswith("# HELP "):
            _, _, name, text = line.split(" ", 3)
            assert text == name
        else:
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    mntr = dict(line.split("\t", 1) for line in server.flw("mntr").splitlines())
    assert samples["znode_count"] == float(mntr["zk_znode_count"]) >= 7
    assert types["znode_count"] == "gauge"
    assert samples["num_alive_connections"] >= 1
    # An avg/min/max/cnt/sum family is a summary with a count and a sum, as in ZooKeeper.
    assert types["fsynctime"] == "summary"
    assert samples["fsynctime_count"] >= 3 and "fsynctime_sum" in samples
    assert "avg_fsynctime" not in samples and "max_fsynctime" not in samples
    # Summaries with percentiles carry them as quantiles (simpleclient's label form).
    assert types["updatelatency"] == "summary"
    assert samples["updatelatency_count"] >= 4
    assert 'updatelatency{quantile="0.99",}' in samples
    assert "p99_updatelatency" not in samples
    # Text figures (version, server_state) have no place there.
    assert "version" not in samples and "server_state" not in samples
    assert fetch(port, "/elsewhere")[0] == 404


def test_prometheus_endpoint_is_off_unless_configured(make_server):
    port = free_port()
    make_server(**{"metricsProvider.httpPort": str(port)})
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
