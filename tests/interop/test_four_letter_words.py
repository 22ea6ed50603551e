"""Four-letter words over raw sockets, line by line (admin-and-4lw.md §1)."""

import re

import pytest

import jute

VERSION = r"3\.\d+\.\d+(-[A-Za-z0-9.\-]+)?(-[^,]+)?, built on \d{4}-\d\d-\d\d \d\d:\d\d UTC"
SRVR_LINES = [
    rf"Zookeeper version: {VERSION}",
    r"Latency min/avg/max: \d+/\d+\.\d+(E-?\d+)?/\d+",
    r"Received: \d+",
    r"Sent: \d+",
    r"Connections: \d+",
    r"Outstanding: \d+",
    r"Zxid: 0x[0-9a-f]+",
    r"Mode: standalone",
    r"Node count: \d+",
]
BRIEF_CONNECTION = r" /127\.0\.0\.1:\d+\[[0-9a-f]+\]\(queued=\d+,recved=\d+,sent=\d+\)"
FULL_CONNECTION = (
    r" /127\.0\.0\.1:\d+\[[0-9a-f]+\]\(queued=\d+,recved=\d+,sent=\d+,sid=0x[0-9a-f]+,lop=[A-Z2]+,"
    r"est=\d+,to=\d+(,lcxid=0x[0-9a-f]+)?,lzxid=0x[0-9a-f]+,lresp=\d+,llat=\d+,minlat=\d+,avglat=\d+,maxlat=\d+\)"
)
CORE_MNTR_KEYS = [
    "zk_version",
    "zk_server_state",
    "zk_avg_latency",
    "zk_max_latency",
    "zk_min_latency",
    "zk_packets_received",
    "zk_packets_sent",
    "zk_num_alive_connections",
    "zk_outstanding_requests",
    "zk_znode_count",
    "zk_watch_count",
    "zk_ephemerals_count",
    "zk_approximate_data_size",
    "zk_open_file_descriptor_count",
    "zk_max_file_descriptor_count",
]


def assert_lines_match(lines, patterns):
    assert len(lines) == len(patterns), lines
    for line, pattern in zip(lines, patterns):
        assert re.fullmatch(pattern, line), f"{line!r} does not match {pattern!r}"


def fields(text, separator):
    return dict(line.split(separator, 1) for line in text.splitlines())


def test_ruok_and_isro(server):
    assert server.flw("ruok") == "imok"
    assert server.flw("isro") == "rw"


def test_srvr_fields_in_order(make_server, clients):
    server = make_server()
    raw = clients.raw(server)
    raw.create("/a")
    _, _, zxid = raw.create("/a/b", b"12")
    text = server.flw("srvr")
    assert text.endswith("\n")
    lines = text.splitlines()
    assert_lines_match(lines, SRVR_LINES)
    assert lines[4] == "Connections: 2"
    assert lines[5] == "Outstanding: 0"
    assert lines[6] == f"Zxid: {hex(zxid)}"
    assert lines[8] == "Node count: 7"  # 5 on a fresh server, the root counted twice


def test_stat_lists_clients_then_srvr_lines(make_server, clients):
    server = make_server()
    raw = clients.raw(server)
    raw.create("/s")
    lines = server.flw("stat").splitlines()
    assert re.fullmatch(rf"Zookeeper version: {VERSION}", lines[0])
    assert lines[1] == "Clients:"
    blank = lines.index("")
    connection_lines = lines[2:blank]
    assert len(connection_lines) == 2  # the session and this 4lw connection
    for line in connection_lines:
        assert re.fullmatch(BRIEF_CONNECTION, line), line
    assert_lines_match(lines[blank + 1 :], SRVR_LINES[1:])


def test_cons_full_form_for_sessions(make_server, clients):
    server = make_server()
    raw = clients.raw(server)
    raw.create("/c")
    text = server.flw("cons")
    assert text.endswith("\n\n")
    lines = text.splitlines()[:-1]
    assert len(lines) == 2
    full = [line for line in lines if "sid=" in line]
    assert len(full) == 1
    assert re.fullmatch(FULL_CONNECTION, full[0]), full[0]
    assert f"sid={hex(raw.session_id)}," in full[0]
    assert ",lop=CREA," in full[0] and ",to=10000," in full[0]
    brief = [line for line in lines if "sid=" not in line]
    assert re.fullmatch(BRIEF_CONNECTION, brief[0]), brief[0]


def test_conf_keys(server):
    text = server.flw("conf")
    keys = [line.split("=", 1)[0] for line in text.splitlines()]
    assert keys == [
        "clientPort",
        "secureClientPort",
        "dataDir",
        "dataDirSize",
        "dataLogDir",
        "dataLogSize",
        "tickTime",
        "maxClientCnxns",
        "minSessionTimeout",
        "maxSessionTimeout",
        "clientPortListenBacklog",
        "serverId",
    ]
    conf = fields(text, "=")
    assert conf["clientPort"] == str(server.port)
    assert conf["secureClientPort"] == "-1"
    assert (conf["tickTime"], conf["minSessionTimeout"], conf["maxSessionTimeout"]) == ("500", "1000", "10000")
    assert conf["maxClientCnxns"] == "60"
    assert conf["dataDir"].startswith(str(server.data_dir))
    assert int(conf["dataDirSize"]) >= 0 and int(conf["dataLogSize"]) >= 0


def test_envi(server, zk):
    text = server.flw("envi")
    lines = text.splitlines()
    assert lines[0] == "Environment:"
    keys = [line.split("=", 1)[0] for line in lines[1:]]
    assert keys[0] == "zookeeper.version"
    assert {"host.name", "java.version", "os.name", "os.arch", "user.dir"} <= set(keys)
    env = fields("\n".join(lines[1:]), "=")
    assert re.fullmatch(VERSION, env["zookeeper.version"])
    assert env["zookeeper.version"].startswith("3.")
    # kazoo's own parser of this text.
    version = zk.server_version()
    assert version[0] == 3 and version[1] >= 5


def test_mntr(make_server, clients):
    server = make_server()
    raw = clients.raw(server)
    raw.create("/m", b"x")
    raw.create("/m/e", flags=jute.EPHEMERAL)
    raw.get_data("/m", watch=True)
    text = server.flw("mntr")
    lines = text.splitlines()
    for line in lines:
        assert re.fullmatch(r"zk_\w+\t[^\t]*", line), line
    assert lines[0].split("\t")[0] == "zk_version"
    assert lines[1] == "zk_server_state\tstandalone"
    values = fields(text, "\t")
    for key in CORE_MNTR_KEYS:
        assert key in values, key
    assert re.fullmatch(VERSION, values["zk_version"])
    assert values["zk_znode_count"] == "7"
    assert values["zk_ephemerals_count"] == "1"
    assert values["zk_watch_count"] == "1"
    assert values["zk_num_alive_connections"] == "2"
    assert values["zk_outstanding_requests"] == "0"
    # 44 on a fresh server (""+"/"+"/zookeeper"+...), plus path and data lengths of the new nodes.
    assert values["zk_approximate_data_size"] == str(44 + len("/m") + 1 + len("/m/e"))
    float(values["zk_avg_latency"])
    assert int(values["zk_max_latency"]) >= int(values["zk_min_latency"]) >= 0
    # Two creates and a session: at least one group commit, none slower than a second.
    assert int(values["zk_cnt_fsynctime"]) >= 1
    assert int(values["zk_sum_sync_processor_batch_size"]) >= 3
    assert values["zk_fsync_threshold_exceed_count"] == "0"


def test_mntr_server_metrics(make_server, clients):
    # ZooKeeper's ServerMetrics that monitoring dashboards chart: read and write latencies with
    # percentiles, bytes and connect requests received, start-up load time; srst resets them.
    server = make_server()
    raw = clients.raw(server)
    for k in range(3):
        raw.create(f"/s{k}", b"x")
    for k in range(5):
        raw.get_data(f"/s{k % 3}")
    values = fields(server.flw("mntr"), "\t")
    assert values["zk_cnt_updatelatency"] == "4"  # three creates and the session's creation
    assert values["zk_cnt_readlatency"] == "5"
    for series in ["readlatency", "updatelatency"]:
        p50, p95, p99, p999 = (int(values[f"zk_p{p}_{series}"]) for p in (50, 95, 99, 999))
        assert int(values[f"zk_min_{series}"]) <= p50 <= p95 <= p99 <= p999 <= int(values[f"zk_max_{series}"])
        assert float(values[f"zk_avg_{series}"]) >= 0
    # The connect request (44 bytes with its prefix and the read-only flag) and the requests.
    assert int(values["zk_bytes_received_count"]) > 44 + 8 * 4
    assert values["zk_connection_request_count"] == "1"
    assert values["zk_cnt_dbinittime"] == "1"
    assert values["zk_stale_sessions_expired"] == "0"
    # A standalone server never looks for a leader.
    assert values["zk_looking_count"] == values["zk_cnt_election_time"] == "0"
    assert server.flw("srst") == "Server stats reset.\n"
    after = fields(server.flw("mntr"), "\t")
    assert after["zk_cnt_readlatency"] == after["zk_cnt_updatelatency"] == "0"
    assert after["zk_connection_request_count"] == "0"
    assert after["zk_p99_readlatency"] == "0"
    # srst's own word was counted before the reset; this mntr after it.
    assert int(after["zk_bytes_received_count"]) == 4


def test_slow_log_syncs_are_counted_and_logged(make_server, clients):
    """With `fsync.warningthresholdms=0` every sync is over the threshold: each is counted in
    mntr and warned about in the log, as ZooKeeper's SyncRequestProcessor does."""
    server = make_server(**{"fsync.warningthresholdms": "0"})
    raw = clients.raw(server)
    raw.create("/slow", b"x")
    values = fields(server.flw("mntr"), "\t")
    syncs = int(values["zk_cnt_fsynctime"])
    assert syncs >= 1
    assert values["zk_fsync_threshold_exceed_count"] == str(syncs)
    assert "fsync of the transaction log was slow" in server.log_tail()


def test_watch_words(make_server, clients):
    server = make_server()
    assert server.flw("wchs") == "0 connections watching 0 paths\nTotal watches:0\n"
    assert server.flw("wchc") == "\n"
    assert server.flw("wchp") == "\n"
    raw = clients.raw(server)
    raw.create("/w")
    raw.create("/w/a")
    raw.get_data("/w/a", watch=True)
    raw.exists("/w/b", watch=True)  # on a missing node
    raw.get_children("/w", watch=True)  # child watches are not counted
    other = clients.raw(server)
    other.exists("/w/a", watch=True)
    sid, other_sid = hex(raw.session_id), hex(other.session_id)
    assert server.flw("wchs") == "2 connections watching 2 paths\nTotal watches:3\n"

    wchc = server.flw("wchc")
    assert wchc.endswith("\n\n")
    blocks = parse_blocks(wchc)
    assert blocks == {sid: {"/w/a", "/w/b"}, other_sid: {"/w/a"}}

    wchp = server.flw("wchp")
    assert wchp.endswith("\n\n")
    assert parse_blocks(wchp) == {"/w/a": {sid, other_sid}, "/w/b": {sid}}


def parse_blocks(text):
    """`key\\n\\tvalue\\n...` blocks into {key: {values}}."""
    blocks = {}
    key = None
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("\t"):
            blocks[key].add(line[1:])
        else:
            key = line
            blocks[key] = set()
    return blocks


def test_dump_lists_sessions_and_ephemerals(make_server, clients):
    server = make_server()
    raw = clients.raw(server)
    raw.create("/e1", flags=jute.EPHEMERAL)
    raw.create("/e2", flags=jute.EPHEMERAL)
    clients.raw(server)
    text = server.flw("dump")
    lines = text.splitlines()
    assert lines[0] == "SessionTracker dump:"
    assert re.fullmatch(r"Session Sets \(\d+\)/\(2\):", lines[1])
    sessions = [line[1:] for line in lines if re.fullmatch(r"\t0x[0-9a-f]+", line)]
    assert hex(raw.session_id) in sessions and len(sessions) == 2
    index = lines.index("ephemeral nodes dump:")
    assert lines[index + 1] == "Sessions with Ephemerals (1):"
    assert lines[index + 2] == f"{hex(raw.session_id)}:"
    assert sorted(lines[index + 3 : index + 5]) == ["\t/e1", "\t/e2"]
    # ZooKeeper's connection expiry queue: both sessions' connections and the one asking.
    index = lines.index("Connections dump:")
    assert re.fullmatch(r"Connections Sets \(\d+\)/\(3\):", lines[index + 1]), lines[index + 1]
    members = [line[1:] for line in lines[index + 2 :] if line.startswith("\t")]
    port = raw.sock.getsockname()[1]
    assert f"ip: /127.0.0.1:{port} sessionId: {hex(raw.session_id)}" in members, members
    assert sum(member.endswith(" sessionId: 0x0") for member in members) == 1, members
    expiry = [line for line in lines[index + 2 :] if not line.startswith("\t")]
    assert all(re.fullmatch(r"\d+ expire at \w{3} \w{3} \d\d \d\d:\d\d:\d\d \w+ \d{4}:", line) for line in expiry), expiry


def test_dirs_gtmk(server):
    lines = server.flw("dirs").splitlines()
    assert re.fullmatch(r"datadir_size: \d+", lines[0])
    assert re.fullmatch(r"logdir_size: \d+", lines[1])
    assert server.flw("gtmk") == "306"


def test_crst_and_srst(make_server, clients):
    server = make_server()
    raw = clients.raw(server)
    for k in range(5):
        raw.create(f"/r{k}")
    assert server.flw("crst") == "Connection stats reset.\n"
    cons = server.flw("cons")
    session_line = next(line for line in cons.splitlines() if "sid=" in line)
    assert "recved=0,sent=0," in session_line
    before = fields(server.flw("mntr"), "\t")
    # A create reply is a 16-byte header and the path; a ping reply the header alone.
    assert int(before["zk_max_client_response_size"]) >= int(before["zk_min_client_response_size"]) >= 16
    assert int(before["zk_cnt_fsynctime"]) >= 1
    assert server.flw("srst") == "Server stats reset.\n"
    lines = server.flw("srvr").splitlines()
    assert lines[1] == "Latency min/avg/max: 0/0.0/0"
    # Four-letter words send no client responses, so nothing has refilled these yet.
    after = fields(server.flw("mntr"), "\t")
    assert after["zk_last_client_response_size"] == "-1"
    assert after["zk_cnt_fsynctime"] == "0" and after["zk_cnt_sync_processor_batch_size"] == "0"


def test_cons_counts_the_handshake_and_the_word_itself(make_server, clients):
    # As ZooKeeper counts packets: the connect request and its response are one each, and the
    # connection asking `cons` has received its word.
    server = make_server()
    raw = clients.raw(server)
    for k in range(3):
        raw.create(f"/c{k}")
    lines = server.flw("cons").splitlines()
    session_line = next(line for line in lines if f"sid={hex(raw.session_id)}," in line)
    assert "(queued=0,recved=4,sent=4," in session_line, session_line
    # ZooKeeper has stopped reading a connection that answers a word: interest ops 0.
    assert any(line.endswith("[0](queued=0,recved=1,sent=0)") for line in lines), lines
    assert "[1](queued=0,recved=4,sent=4," in session_line


def test_unknown_word_closes_without_output(server):
    assert server.flw("xxxx") == ""


def test_kazoo_command_helper_reads_one_recv(zk):
    assert zk.command(b"ruok") == "imok"
    assert zk.command(b"isro") == "rw"
    assert zk.command(b"srvr").startswith("Zookeeper version: ")


def test_default_whitelist_allows_only_srvr(make_server):
    server = make_server(**{"4lw.commands.whitelist": None})
    assert server.flw("srvr").startswith("Zookeeper version: ")
    for word in ["ruok", "stat", "conf", "envi", "mntr", "wchs", "dump", "cons", "crst", "srst", "isro"]:
        assert server.flw(word) == f"{word} is not executed because it is not in the whitelist.\n"
    assert server.flw("xxxx") == ""


def test_explicit_whitelist_always_keeps_srvr(make_server):
    server = make_server(**{"4lw.commands.whitelist": "ruok, conf"})
    assert server.flw("ruok") == "imok"
    assert server.flw("conf").startswith("clientPort=")
    assert server.flw("srvr").startswith("Zookeeper version: ")
    assert server.flw("stat") == "stat is not executed because it is not in the whitelist.\n"


def test_hash_and_telnet_close(server):
    assert server.flw("hash") == ""  # a young server keeps no digests
    assert server.flw(b"\xff\xf4\xff\xfd") == ""


def test_stmk_sets_the_trace_mask(make_server):
    server = make_server()
    assert server.flw(b"stmk" + (0x1FF).to_bytes(8, "big")) == "511"
    assert server.flw("gtmk") == "511"


def test_telnet_close_outside_the_whitelist(make_server):
    server = make_server(**{"4lw.commands.whitelist": None})
    assert server.flw(b"\xff\xf4\xff\xfd") == "telnet close is not executed because it is not in the whitelist.\n"


def test_dump_expiry_buckets_print_a_date(make_server, clients):
    server = make_server()
    clients.raw(server)
    lines = server.flw("dump").splitlines()
    assert re.fullmatch(r"Session Sets \(1\)/\(1\):", lines[1])
    assert re.fullmatch(r"1 expire at \w{3} \w{3} \d\d \d\d:\d\d:\d\d \w+ \d{4}:", lines[2]), lines[2]
