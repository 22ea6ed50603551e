"""Apache ZooKeeper's own C client library (libzookeeper_mt, Debian's `libzookeeper-mt-dev`)
against the server: `c_client/zkcheck.c` runs one named scenario per invocation and checks the
exact values ZooKeeper gives. It is compiled once per module; a missing compiler or header is a
failure, not a skip: CI installs both."""

import shutil
import subprocess
from pathlib import Path

import pytest

SOURCE = Path(__file__).parent / "c_client" / "zkcheck.c"
SCENARIOS = ["crud", "sequential", "watches", "multi", "acl", "async", "session"]
INSTALL_HINT = "install gcc and Debian's `libzookeeper-mt-dev` (ZooKeeper's C client)"


@pytest.fixture(scope="module")
def zkcheck(tmp_path_factory):
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail(f"gcc not found: {INSTALL_HINT}")
    binary = tmp_path_factory.mktemp("c_client") / "zkcheck"
    result = subprocess.run(
        [gcc, "-Wall", "-Wextra", "-Werror", "-o", str(binary), str(SOURCE), "-lzookeeper_mt"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        pytest.fail(f"compiling {SOURCE.name} failed ({INSTALL_HINT}):\n{result.stderr}")
    return binary


def run(zkcheck, *args):
    return subprocess.run(
        [str(zkcheck), *args],
        capture_output=True,
        text=True,
        timeout=80,
        stdin=subprocess.DEVNULL,
    )


def test_scenario_list_matches_the_program(zkcheck):
    # Without arguments zkcheck prints its usage and scenario names.
    result = run(zkcheck)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[-1].split() == ["scenarios:", *SCENARIOS]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_c_client(zkcheck, server, scenario):
    result = run(zkcheck, server.hosts, scenario)
    assert result.returncode == 0, (
        f"zkcheck {scenario} exited with {result.returncode}\n"
        f"--- stdout\n{result.stdout}--- stderr\n{result.stderr}"
    )
    assert result.stdout.splitlines()[-1].startswith(f"PASS [{scenario}]"), result.stdout
