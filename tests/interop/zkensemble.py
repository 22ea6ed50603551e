"""Replicated ensembles: N server processes on loopback, each with its own zoo.cfg, myid, dataDir.

Every member is a ZkServer (zkserver.py) with `server.N` lines added, so the same suite runs against
our zk-server and against Apache ZooKeeper (peer-suites/kazoo/zk-java-server.sh). A member counts as
started once `srvr` reports its role: a quorum member that has not joined a leader does not serve.
"""

import concurrent.futures

from zkserver import ZkServer, four_letter_word, free_port, wait_until

ENSEMBLE_CONFIG = {
    # A short tick keeps failure detection and elections quick (syncLimit 5 ticks = 1 s).
    "tickTime": "200",
    "initLimit": "10",
    "syncLimit": "5",
    # 20 ticks (4 s) would cap session timeouts below what a leader change needs to be survivable.
    "maxSessionTimeout": "30000",
}

ROLES = ("leader", "follower", "observer")
"""The `Mode:` values of a member that serves clients."""


def server_mode(port):
    """The role in `srvr`'s `Mode:` line, or None while the member does not serve (or is down)."""
    try:
        answer = four_letter_word(port, "srvr", timeout=1.0)
    except OSError:
        return None
    for line in answer.splitlines():
        if line.startswith("Mode: "):
            return line.removeprefix("Mode: ").strip()
    return None


def distinct_free_ports(count):
    """`count` different free loopback ports: a released port may be handed out again by the next
    bind, and two members (or a member's client and quorum ports) must never share one."""
    ports = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


class EnsembleMember(ZkServer):
    """A ZkServer that is one member (sid) of an ensemble: it writes its myid file, and it is
    up only when `srvr` names its role."""

    def __init__(self, workdir, sid, observer, overrides):
        super().__init__(workdir, overrides)
        self.sid = sid
        self.observer = observer
        if observer:
            self.config["peerType"] = "observer"
        self.quorum_port = None
        self.election_port = None
        self.client_address_in_line = False
        self.dynamic_config = False

    @property
    def server_line(self):
        """This member's `server.<sid>` value: address:quorumPort:electionPort[:observer], and
        `;address:clientPort` (ZooKeeper 3.5's form) when the ensemble names client addresses."""
        line = f"127.0.0.1:{self.quorum_port}:{self.election_port}"
        line = line + ":observer" if self.observer else line
        return line + f";127.0.0.1:{self.port}" if self.client_address_in_line else line

    def write_config(self):
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "myid").write_text(f"{self.sid}\n")
        if not self.dynamic_config:
            super().write_config()
            return
        # ZooKeeper 3.5's form: the server lines (with client addresses) in a file of their own
        # that zoo.cfg names, and no clientPort.
        dynamic = self.workdir / "zoo.cfg.dynamic"
        servers = {k: v for k, v in self.config.items() if k.startswith("server.")}
        dynamic.write_text("".join(f"{k}={v}\n" for k, v in servers.items()))
        static = {
            k: v
            for k, v in self.config.items()
            if k not in servers and k not in ("clientPort", "clientPortAddress") and v is not None
        }
        static["dynamicConfigFile"] = str(dynamic)
        self.cfg_path.write_text("".join(f"{k}={v}\n" for k, v in static.items()))

    def _serving(self):
        return super()._serving() and self.mode() in ROLES

    def mode(self):
        return server_mode(self.port)

    @property
    def running(self):
        return self.process is not None

    @property
    def pid(self):
        return self.process.pid if self.process else None

    def __repr__(self):
        return f"<member {self.sid} port {self.port} pid {self.pid}>"


class Ensemble:
    """`voters` participants plus `observers` observers (sids 1..N, observers last). Members are
    killed (SIGKILL by PID) and restarted on their dataDir through their ZkServer methods."""

    def __init__(
        self, root, voters=3, observers=0, overrides=None, client_addresses=False, dynamic_config=False
    ):
        """`client_addresses`: name each member's client address in its server line, so that
        /zookeeper/config tells clients where to connect. `dynamic_config`: ZooKeeper 3.5's form,
        the server lines in a `dynamicConfigFile` and no clientPort (implies client_addresses)."""
        client_addresses = client_addresses or dynamic_config
        total = voters + observers
        config = {**ENSEMBLE_CONFIG, **(overrides or {})}
        self.members = [
            EnsembleMember(root / f"member{sid}", sid, sid > voters, config)
            for sid in range(1, total + 1)
        ]
        ports = distinct_free_ports(3 * total)
        triples = zip(ports[0::3], ports[1::3], ports[2::3])
        for member, (client, quorum, election) in zip(self.members, triples):
            member.port = client
            member.config["clientPort"] = str(client)
            member.quorum_port, member.election_port = quorum, election
            member.client_address_in_line = client_addresses
            member.dynamic_config = dynamic_config
        servers = {f"server.{member.sid}": member.server_line for member in self.members}
        for member in self.members:
            member.config.update(servers)

    def start(self, timeout=60.0):
        """Starts every member at once (none serves before a quorum is up) and waits for all."""
        with concurrent.futures.ThreadPoolExecutor(len(self.members)) as pool:
            for started in [pool.submit(member.start, timeout) for member in self.members]:
                started.result()

    def stop(self):
        for member in self.members:
            member.stop()

    def member(self, sid):
        return self.members[sid - 1]

    @property
    def running(self):
        return [member for member in self.members if member.running]

    def leader(self, timeout=20.0):
        """The one running member whose `srvr` says leader, waiting for an election to finish."""

        def sole_leader():
            leaders = [member for member in self.running if member.mode() == "leader"]
            return leaders[0] if len(leaders) == 1 else None

        return wait_until(sole_leader, timeout=timeout, interval=0.05, message="a single leader")

    def followers(self):
        """Running members that follow the current leader (observers excluded)."""
        return [member for member in self.running if member.mode() == "follower"]
