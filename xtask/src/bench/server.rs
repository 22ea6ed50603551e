//! The servers under test as child processes: ours (zk-server) and Apache ZooKeeper, each
//! started the way QuorumPeerMain is, from a zoo.cfg in its own scratch directory, on a free
//! loopback port. A process left running when the bench fails is killed on drop.

use std::fs::{self, File};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use zk_proto::{GetDataRequest, Request, Response};

use super::session::{Session, four_letter_word};
use crate::cluster::ensemble::ServerCommand;

/// The same for both servers: it sets the session timeout bounds.
pub const TICK_TIME_MS: u64 = 2000;

/// How long a server may take to start serving, or to exit after SIGTERM.
const START_TIMEOUT: Duration = Duration::from_secs(180);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// Between two readiness probes.
const PROBE_INTERVAL: Duration = Duration::from_millis(10);
/// How long one readiness probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Which implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Flavor {
    Ours,
    ZooKeeper,
}

impl Flavor {
    pub fn label(self) -> &'static str {
        match self {
            Flavor::Ours => "zk-server",
            Flavor::ZooKeeper => "ZooKeeper",
        }
    }
}

/// How to start each flavour.
#[derive(Debug, Clone)]
pub struct Launchers {
    /// Our release binary.
    pub ours: PathBuf,
    /// Absent unless the comparison was asked for.
    pub zookeeper: Option<JavaLauncher>,
}

/// The JVM command line of Debian's `zookeeper` package.
#[derive(Debug, Clone)]
pub struct JavaLauncher {
    classpath: String,
    log4j_config: Option<PathBuf>,
    pub version: String,
}

impl JavaLauncher {
    /// Finds zookeeper.jar and its dependencies in `jar_dir` (Debian: /usr/share/java).
    pub fn find(jar_dir: &Path, log4j_config: &Path) -> anyhow::Result<Self> {
        let classpath = crate::debian_zookeeper::classpath(jar_dir)?;
        // zookeeper.jar may be a copy rather than a link: the versioned jar beside it names
        // the version.
        let version = fs::read_dir(jar_dir)
            .into_iter()
            .flatten()
            .flatten()
            .find_map(|entry| jar_version(entry.file_name().to_str()?).map(str::to_owned))
            .unwrap_or_else(|| "(unknown version)".into());
        Ok(JavaLauncher {
            classpath,
            log4j_config: log4j_config.is_file().then(|| log4j_config.to_owned()),
            version,
        })
    }

    fn command(&self, zoo_cfg: &Path) -> Command {
        let mut cmd = Command::new("java");
        cmd.args(self.jvm_args("WARN")).arg(zoo_cfg);
        cmd
    }

    /// The same JVM as an ensemble member, for the cluster tooling. It logs at INFO, as our
    /// server does there: why a member closed a connection or lost its leader is worth reading
    /// after an ensemble run, and neither server logs per request at that level.
    pub fn server_command(&self) -> ServerCommand {
        ServerCommand {
            program: "java".into(),
            args: self.jvm_args("INFO"),
        }
    }

    /// Everything before the zoo.cfg path; `level` is log4j's root level.
    fn jvm_args(&self, level: &str) -> Vec<String> {
        let mut args = vec![
            "-cp".to_owned(),
            self.classpath.clone(),
            "-Dfile.encoding=UTF-8".to_owned(),
            "-Djava.awt.headless=true".to_owned(),
            format!("-Dzookeeper.root.logger={level},CONSOLE"),
        ];
        if let Some(config) = &self.log4j_config {
            args.push(format!("-Dlog4j.configuration=file:{}", config.display()));
        }
        args.push("org.apache.zookeeper.server.quorum.QuorumPeerMain".to_owned());
        args
    }
}

/// `3.8.0` for `zookeeper-3.8.0.jar`; `None` for any other file name.
fn jar_version(file_name: &str) -> Option<&str> {
    let version = file_name.strip_prefix("zookeeper-")?.strip_suffix(".jar")?;
    let well_formed = version.split('.').count() == 3
        && version
            .split('.')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
    well_formed.then_some(version)
}

/// A directory under the system temp dir, removed on drop.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    pub fn new(label: &str) -> anyhow::Result<Self> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "zk-bench-{}-{}-{label}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(ScratchDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// The zoo.cfg both servers get: standalone, fsync on (the default), no connection limit,
/// `ruok` allowed, the Java admin server off.
pub fn zoo_cfg(data_dir: &Path, port: u16) -> String {
    format!(
        "tickTime={TICK_TIME_MS}\n\
         dataDir={}\n\
         clientPort={port}\n\
         clientPortAddress=127.0.0.1\n\
         maxClientCnxns=0\n\
         4lw.commands.whitelist=ruok,srvr\n\
         admin.enableServer=false\n",
        data_dir.display()
    )
}

/// A port that was free a moment ago (the server binds it right after).
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind a loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// `VmRSS` of a `/proc/<pid>/status` text, in bytes.
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let mut fields = line.split_whitespace().skip(1);
    let value: u64 = fields.next()?.parse().ok()?;
    match fields.next()? {
        "kB" => Some(value * 1024),
        _ => None,
    }
}

/// Disk space used by the files under `dir`.
fn tree_bytes(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => tree_bytes(&entry.path()),
            // Allocated blocks, not the length: logs are preallocated sparsely.
            Ok(_) => entry.metadata().map_or(0, |meta| meta.blocks() * 512),
            Err(_) => 0,
        })
        .sum()
}

/// One server under test, with its zoo.cfg, data and log in a scratch directory.
#[derive(Debug)]
pub struct ServerProcess {
    flavor: Flavor,
    launchers: Launchers,
    dir: ScratchDir,
    addr: SocketAddr,
    child: Option<Child>,
}

impl ServerProcess {
    /// Starts a server with an empty data directory and waits until it answers `ruok`.
    pub async fn start(flavor: Flavor, launchers: &Launchers) -> anyhow::Result<Self> {
        let dir = ScratchDir::new(flavor.label())?;
        let data_dir = dir.path().join("data");
        fs::create_dir_all(&data_dir)?;
        let port = free_port()?;
        fs::write(dir.path().join("zoo.cfg"), zoo_cfg(&data_dir, port))?;
        let mut server = ServerProcess {
            flavor,
            launchers: launchers.clone(),
            dir,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child: None,
        };
        server.launch_and_wait("/").await?;
        Ok(server)
    }

    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Spawns the process (stdout and stderr appended to server.log), then waits until it
    /// answers `ruok` with `imok` and serves a getData of `probe` in a new session (ZooKeeper
    /// answers `ruok` before it serves sessions). Returns the time from spawn to serving.
    pub async fn launch_and_wait(&mut self, probe: &str) -> anyhow::Result<Duration> {
        if self.child.is_some() {
            bail!("{} is already running", self.flavor.label());
        }
        let zoo_cfg = self.dir.path().join("zoo.cfg");
        let mut cmd = match self.flavor {
            Flavor::Ours => {
                let mut cmd = Command::new(&self.launchers.ours);
                cmd.arg(&zoo_cfg).env("ZK_LOG", "warn");
                cmd
            }
            Flavor::ZooKeeper => self
                .launchers
                .zookeeper
                .as_ref()
                .context("ZooKeeper was not located")?
                .command(&zoo_cfg),
        };
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .current_dir(self.dir.path());
        let started = Instant::now();
        self.child = Some(
            cmd.spawn()
                .with_context(|| format!("cannot start {}", self.flavor.label()))?,
        );
        self.wait_serving(probe, started).await?;
        Ok(started.elapsed())
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// The end of server.log, for error messages.
    fn log_tail(&self) -> String {
        let text = fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    async fn wait_serving(&mut self, probe: &str, started: Instant) -> anyhow::Result<()> {
        let mut last_error = String::from("no answer yet");
        while started.elapsed() < START_TIMEOUT {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                bail!(
                    "{} exited with {status} while starting; its log ends with:\n{}",
                    self.flavor.label(),
                    self.log_tail()
                );
            }
            match tokio::time::timeout(PROBE_TIMEOUT, self.probe(probe)).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(error)) => last_error = format!("{error:#}"),
                Err(_) => last_error = format!("no answer within {PROBE_TIMEOUT:?}"),
            }
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
        bail!(
            "{} did not serve within {START_TIMEOUT:?} ({last_error}); its log ends with:\n{}",
            self.flavor.label(),
            self.log_tail()
        )
    }

    /// `ruok` → `imok`, then a getData of `path`.
    async fn probe(&self, path: &str) -> anyhow::Result<()> {
        let answer = four_letter_word(self.addr, "ruok", PROBE_TIMEOUT).await?;
        if answer != "imok" {
            bail!("ruok answered {answer:?}");
        }
        let mut session = Session::connect(self.addr).await?;
        let request = Request::GetData(GetDataRequest {
            path: path.to_owned(),
            watch: false,
        });
        let response = session.call_accepting(&request, &[]).await?;
        if !matches!(response, Response::GetData(_)) {
            bail!("getData {path} answered {response:?}");
        }
        session.close().await
    }

    /// Sends SIGTERM and waits for the exit; returns how long the server took to exit.
    pub async fn stop(&mut self) -> anyhow::Result<Duration> {
        let Some(mut child) = self.child.take() else {
            bail!("{} is not running", self.flavor.label());
        };
        let started = Instant::now();
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .context("cannot run kill")?;
        if !status.success() {
            bail!("kill -TERM {} failed with {status}", child.id());
        }
        while started.elapsed() < STOP_TIMEOUT {
            if child.try_wait()?.is_some() {
                return Ok(started.elapsed());
            }
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        bail!(
            "{} did not exit within {STOP_TIMEOUT:?} of SIGTERM (killed)",
            self.flavor.label()
        )
    }

    /// The resident set size of the server process.
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        let pid = self.pid().context("the server is not running")?;
        let status = fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("cannot read /proc/{pid}/status"))?;
        parse_vm_rss(&status).context("no VmRSS in /proc/<pid>/status")
    }

    /// Bytes in the data directory (snapshots and transaction logs).
    pub fn data_bytes(&self) -> u64 {
        tree_bytes(&self.dir.path().join("data"))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_version_in_a_jar_name() {
        assert_eq!(jar_version("zookeeper-3.8.0.jar"), Some("3.8.0"));
        assert_eq!(jar_version("zookeeper-jute-3.8.0.jar"), None);
        assert_eq!(jar_version("zookeeper.jar"), None);
        assert_eq!(jar_version("zookeeper-3.8.jar"), None);
    }

    #[test]
    fn an_ensemble_member_gets_the_standalone_jvm_line_logging_more() {
        let launcher = JavaLauncher {
            classpath: "a.jar:b.jar".into(),
            log4j_config: Some(PathBuf::from("conf/log4j.properties")),
            version: "3.8.0".into(),
        };
        let member = launcher.server_command();
        assert_eq!(member.program, Path::new("java"));
        let standalone = launcher.command(Path::new("zoo.cfg"));
        let standalone_args: Vec<_> = standalone
            .get_args()
            .map(|arg| arg.to_string_lossy().into_owned())
            .map(|arg| arg.replace("=WARN,", "=INFO,"))
            .collect();
        assert_eq!(
            standalone_args.split_last(),
            Some((&"zoo.cfg".to_owned(), member.args.as_slice())),
            "the same line but for the log level"
        );
        assert!(
            member
                .args
                .contains(&"-Dzookeeper.root.logger=INFO,CONSOLE".into())
        );
        assert!(
            member
                .args
                .contains(&"-Dlog4j.configuration=file:conf/log4j.properties".into())
        );
        assert_eq!(
            member.args.last().map(String::as_str),
            Some("org.apache.zookeeper.server.quorum.QuorumPeerMain")
        );
    }

    #[test]
    fn reads_vm_rss_in_bytes() {
        let status = "Name:\tjava\nVmPeak:\t 9000 kB\nVmRSS:\t   76636 kB\nThreads:\t40\n";
        assert_eq!(parse_vm_rss(status), Some(76_636 * 1024));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
        assert_eq!(parse_vm_rss("VmRSS:\tlots\n"), None);
    }

    #[test]
    fn both_servers_get_the_same_standalone_config() {
        let cfg = zoo_cfg(Path::new("data"), 4242);
        let lines: Vec<&str> = cfg.lines().collect();
        assert!(lines.contains(&"tickTime=2000"));
        assert!(lines.contains(&"dataDir=data"));
        assert!(lines.contains(&"clientPort=4242"));
        assert!(lines.contains(&"maxClientCnxns=0"));
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("4lw.commands.whitelist=ruok"))
        );
        assert!(!cfg.contains("server."), "standalone: no ensemble lines");
    }

    #[test]
    fn scratch_dirs_are_distinct_and_removed_on_drop() {
        let first = ScratchDir::new("t").unwrap();
        let second = ScratchDir::new("t").unwrap();
        assert_ne!(first.path(), second.path());
        fs::write(first.path().join("f"), b"12345").unwrap();
        fs::create_dir(first.path().join("sub")).unwrap();
        fs::write(first.path().join("sub/g"), b"678").unwrap();
        assert!(
            tree_bytes(first.path()) >= 8,
            "two non-empty files use blocks"
        );
        let path = first.path().to_owned();
        drop(first);
        assert!(!path.exists());
    }
}
