#!/usr/bin/env bash
# Regenerates crates/zk-proto/tests/golden/kazoo-zk38.jsonl: wire vectors captured from a
# real Apache ZooKeeper 3.8 (Debian's `zookeeper` package) driven by kazoo 2.11.0 and by
# hand-encoded jute frames, through a recording proxy (scripts/capture_golden.py).
#
#   scripts/capture-golden.sh            # writes the vectors file
#   scripts/capture-golden.sh -v         # the same, logging each step
#
# Needs: python3 with venv and pip (kazoo and pure-sasl come from PyPI the first time,
# into target/golden-venv), java, and Debian's zookeeper package (or ZK_CLASSPATH set to
# a ZooKeeper 3.8 classpath). CI does not run this; the vectors are committed.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/target/golden-venv"
out="$repo/crates/zk-proto/tests/golden/kazoo-zk38.jsonl"
kazoo_version=2.11.0
puresasl_version=0.6.2

# --- Python environment (reused when kazoo is already at the pinned version) -----------
if ! "$venv/bin/python" -c "import kazoo.version as v, puresasl; assert v.__version__ == '$kazoo_version'" 2>/dev/null; then
    echo "creating $venv with kazoo==$kazoo_version" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "kazoo==$kazoo_version" "pure-sasl==$puresasl_version"
fi

# --- ZooKeeper classpath ------------------------------------------------------------
if [ -z "${ZK_CLASSPATH:-}" ]; then
    jars=/usr/share/java
    [ -f "$jars/zookeeper.jar" ] || { echo "no $jars/zookeeper.jar: apt-get install zookeeper, or set ZK_CLASSPATH" >&2; exit 2; }
    ZK_CLASSPATH="$jars/zookeeper.jar"
    # zookeeper.jar's manifest names most dependencies; these it does not.
    for jar in netty-codec netty-resolver netty-transport-native-unix-common slf4j-log4j12 log4j-1.2; do
        [ -f "$jars/$jar.jar" ] || { echo "missing $jars/$jar.jar" >&2; exit 2; }
        ZK_CLASSPATH="$ZK_CLASSPATH:$jars/$jar.jar"
    done
fi
command -v java >/dev/null || { echo "no java on PATH" >&2; exit 2; }
zk_version="$(java -cp "$ZK_CLASSPATH" org.apache.zookeeper.version.VersionInfoMain)"
case "$zk_version" in
    "Apache ZooKeeper, version 3.8."*) echo "server: $zk_version" >&2 ;;
    *) echo "expected ZooKeeper 3.8.x (the vectors file is named zk38), found: $zk_version" >&2; exit 2 ;;
esac

# --- Start ZooKeeper on a free loopback port with a throw-away dataDir ---------------------
work="$(mktemp -d "${TMPDIR:-/tmp}/capture-golden.XXXXXX")"
zk_pid=""
# shellcheck disable=SC2329  # run by the EXIT trap
cleanup() {
    if [ -n "$zk_pid" ] && kill -0 "$zk_pid" 2>/dev/null; then
        kill "$zk_pid" 2>/dev/null || true
        wait "$zk_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

port="$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mkdir -p "$work/data"
cat >"$work/zoo.cfg" <<EOF
tickTime=2000
dataDir=$work/data
clientPort=$port
clientPortAddress=127.0.0.1
4lw.commands.whitelist=*
extendedTypesEnabled=true
admin.enableServer=false
authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider
EOF
# SASL DIGEST-MD5 for kazoo's sasl_options (opcode 102).
cat >"$work/jaas.conf" <<EOF
Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_golden="golden-secret";
};
EOF
cat >"$work/log4j.properties" <<EOF
log4j.rootLogger=INFO, FILE
log4j.appender.FILE=org.apache.log4j.FileAppender
log4j.appender.FILE.File=$work/zookeeper.log
log4j.appender.FILE.layout=org.apache.log4j.PatternLayout
log4j.appender.FILE.layout.ConversionPattern=%d{ISO8601} [%t] %-5p %c{1} - %m%n
EOF

# Started from the temp dir so that `envi` reports no path of this checkout as user.dir.
(cd "$work" && exec java -cp "$ZK_CLASSPATH" \
    -Dzookeeper.extendedTypesEnabled=true \
    -Dzookeeper.4lw.commands.whitelist='*' \
    -Dzookeeper.admin.enableServer=false \
    -Djava.security.auth.login.config="$work/jaas.conf" \
    -Dlog4j.configuration="file:$work/log4j.properties" \
    -Djava.awt.headless=true \
    org.apache.zookeeper.server.ZooKeeperServerMain "$work/zoo.cfg" \
    >"$work/java.out" 2>&1) &
zk_pid=$!

# Wait until it answers ruok.
ready=""
for _ in $(seq 1 100); do
    if ! kill -0 "$zk_pid" 2>/dev/null; then break; fi
    if [ "$("$venv/bin/python" - "$port" <<'EOF' 2>/dev/null
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.sendall(b"ruok")
print(s.recv(16).decode())
EOF
)" = "imok" ]; then
        ready=1
        break
    fi
    sleep 0.2
done
if [ -z "$ready" ]; then
    echo "ZooKeeper did not start; its output:" >&2
    tail -n 40 "$work/java.out" "$work/zookeeper.log" >&2 || true
    exit 1
fi

mkdir -p "$(dirname "$out")"
status=0
"$venv/bin/python" "$repo/scripts/capture_golden.py" --zk-port "$port" --out "$out" --sasl "$@" || status=$?
if [ "$status" -ne 0 ]; then
    echo "capture failed (exit $status); last ZooKeeper log lines:" >&2
    tail -n 30 "$work/zookeeper.log" >&2 || true
fi
exit "$status"
