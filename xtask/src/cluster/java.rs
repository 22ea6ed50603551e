//! Apache ZooKeeper from Debian's `zookeeper` package as a [`ServerCommand`]: the JVM running
//! QuorumPeerMain on a zoo.cfg, exactly as an ensemble member is started in production.

use std::path::Path;

use super::ensemble::ServerCommand;

/// `java -cp <jars> ... QuorumPeerMain` with the jars from `jar_dir` (Debian: /usr/share/java)
/// and, when the file exists, the package's log4j configuration.
pub fn zookeeper(jar_dir: &Path, log4j_config: &Path) -> anyhow::Result<ServerCommand> {
    let classpath = crate::debian_zookeeper::classpath(jar_dir)?;
    let mut args = vec![
        "-cp".to_owned(),
        classpath,
        "-Dfile.encoding=UTF-8".to_owned(),
        "-Djava.awt.headless=true".to_owned(),
        "-Dzookeeper.root.logger=INFO,CONSOLE".to_owned(),
    ];
    if log4j_config.is_file() {
        args.push(format!(
            "-Dlog4j.configuration=file:{}",
            log4j_config.display()
        ));
    }
    args.push("org.apache.zookeeper.server.quorum.QuorumPeerMain".to_owned());
    Ok(ServerCommand {
        program: "java".into(),
        args,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_every_jar() {
        let dir = std::env::temp_dir().join(format!("xtask-java-jars-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(zookeeper(&dir, Path::new("none")).is_err());
        for name in
            std::iter::once("zookeeper").chain(crate::debian_zookeeper::EXTRA_JARS.iter().copied())
        {
            std::fs::write(dir.join(format!("{name}.jar")), b"").unwrap();
        }
        let command = zookeeper(&dir, Path::new("none")).unwrap();
        assert_eq!(command.program, Path::new("java"));
        assert_eq!(
            command.args.last().map(String::as_str),
            Some("org.apache.zookeeper.server.quorum.QuorumPeerMain")
        );
        assert!(command.args[1].contains("log4j-1.2.jar"));
        assert!(
            !command
                .args
                .iter()
                .any(|arg| arg.starts_with("-Dlog4j.configuration"))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
