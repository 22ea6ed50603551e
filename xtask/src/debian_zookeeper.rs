//! Apache ZooKeeper from Debian's `zookeeper` package: the classpath that starts it, shared by
//! the benchmarks and the cluster tooling.

use std::path::Path;

use anyhow::bail;

/// Jars zookeeper.jar needs besides those its manifest's Class-Path names: the netty codec and
/// the log4j binding (as in the kazoo peer suite's debian-zookeeper.sh).
pub(crate) const EXTRA_JARS: &[&str] = &[
    "netty-codec",
    "netty-resolver",
    "netty-transport-native-unix-common",
    "slf4j-log4j12",
    "log4j-1.2",
];

/// `zookeeper.jar:netty-codec.jar:...` from `jar_dir` (Debian: /usr/share/java); an error names
/// the first jar that is missing.
pub fn classpath(jar_dir: &Path) -> anyhow::Result<String> {
    let mut jars = Vec::new();
    for name in std::iter::once("zookeeper").chain(EXTRA_JARS.iter().copied()) {
        let jar = jar_dir.join(format!("{name}.jar"));
        if !jar.is_file() {
            bail!(
                "no {}: install Debian's zookeeper package, or point the tool at the jars",
                jar.display()
            );
        }
        jars.push(jar.display().to_string());
    }
    Ok(jars.join(":"))
}
