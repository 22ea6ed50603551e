"""Apache Curator 5 (Debian's libcurator-*-java, with ZooKeeper 3.8's Java client) against the
server: framework operations, transactions, persistent watches and the recipes most deployments
use. `curator/CuratorCheck.java` runs one scenario per invocation and fails at its first check that
does not hold. A missing JDK or Curator is a failure, not a skip: CI installs them."""

import shutil
import subprocess
from pathlib import Path

import pytest

from zkensemble import Ensemble

SOURCE = Path(__file__).parent / "curator" / "CuratorCheck.java"
JARS = [
    "curator-recipes.jar",
    "curator-framework.jar",
    "curator-client.jar",
    "zookeeper.jar",
    "zookeeper-jute.jar",
    "slf4j-nop.jar",
]
JAVA_DIR = Path("/usr/share/java")


def classpath():
    missing = [jar for jar in JARS if not (JAVA_DIR / jar).is_file()]
    if missing:
        pytest.fail(f"missing {missing}: install libcurator-recipes-java (and libslf4j-java)")
    return ":".join(str(JAVA_DIR / jar) for jar in JARS)


@pytest.fixture(scope="module")
def curator(tmp_path_factory):
    """Compiles CuratorCheck once; returns the java command line that runs it."""
    javac = shutil.which("javac")
    if javac is None:
        pytest.fail("javac not found: install a JDK (default-jdk-headless)")
    out = tmp_path_factory.mktemp("curator-classes")
    cp = classpath()
    result = subprocess.run(
        [javac, "-nowarn", "-d", str(out), "-cp", cp, str(SOURCE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return ["java", "-cp", f"{out}:{cp}", "CuratorCheck"]


SCENARIOS = [
    "crud",
    "transaction",
    "watchers",
    "cache",
    "lock",
    "leader",
    "counters",
    "barrier_queue",
    "semaphore",
    "acl",
]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_curator(curator, server, scenario):
    run_scenario(curator, server.hosts, scenario)


@pytest.mark.slow
def test_curator_session_survives_restart(curator, make_server):
    """A Curator client keeps its session, ephemeral and data across a server restart."""
    server = make_server()
    process = subprocess.Popen(
        [*curator, server.hosts, "restart"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = process.stdout.readline()
        while ready and ready.strip() != "READY":
            ready = process.stdout.readline()
        assert ready.strip() == "READY", process.stderr.read()[-3000:]
        server.restart()
        process.stdin.write("go\n")
        process.stdin.flush()
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0 and "OK restart" in out, f"{out}\n{err[-3000:]}"


@pytest.fixture(scope="module")
def trio(tmp_path_factory):
    # Client addresses in the server lines, as dynamic configurations have them: Curator's
    # EnsembleTracker builds its connect string from them.
    ensemble = Ensemble(tmp_path_factory.mktemp("curator-trio"), voters=3, client_addresses=True)
    try:
        ensemble.start()
        ensemble.leader()
        yield ensemble
    finally:
        ensemble.stop()


def run_scenario(curator, hosts, scenario):
    result = subprocess.run(
        [*curator, hosts, scenario],
        capture_output=True,
        text=True,
        timeout=80,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0 and f"OK {scenario}" in result.stdout, (
        f"exit {result.returncode}\n{result.stdout}\n{result.stderr[-3000:]}"
    )


def test_curator_learns_the_ensemble(curator, trio):
    """Started with one member's address, Curator finds the others in /zookeeper/config."""
    run_scenario(curator, trio.member(1).hosts, "tracker")


@pytest.mark.parametrize("scenario", ["transaction", "cache", "lock", "leader", "counters"])
def test_curator_on_ensemble(curator, trio, scenario):
    hosts = ",".join(member.hosts for member in trio.members)
    run_scenario(curator, hosts, scenario)
