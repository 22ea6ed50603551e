//! Server processes: started detached (their own process group, so that they outlive the tool
//! that started them and ignore its Ctrl-C), recognised by their command line before any signal
//! is sent (a recorded pid may have been reused by an unrelated process since).

use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde::{Deserialize, Serialize};

/// How to run a server: a program taking a zoo.cfg as its last argument (zk-server, a script that
/// `exec`s Apache ZooKeeper, or `java ... QuorumPeerMain`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerCommand {
    pub program: PathBuf,
    /// Arguments before the zoo.cfg path.
    #[serde(default)]
    pub args: Vec<String>,
}

impl ServerCommand {
    pub fn program(program: impl Into<PathBuf>) -> Self {
        ServerCommand {
            program: program.into(),
            args: Vec::new(),
        }
    }
}

/// Starts `server` on `zoo_cfg`, appending its output to `log`.
pub fn spawn(
    server: &ServerCommand,
    zoo_cfg: &Path,
    workdir: &Path,
    log: &Path,
) -> io::Result<Child> {
    let log = OpenOptions::new().create(true).append(true).open(log)?;
    let mut command = Command::new(&server.program);
    command
        .args(&server.args)
        .arg(zoo_cfg)
        .current_dir(workdir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0);
    // zk-server reads ZK_* variables as configuration: ours (ZK_CLUSTER_SERVER_BIN...) must not
    // leak into it.
    for (name, _) in std::env::vars_os() {
        if name.as_bytes().starts_with(b"ZK_") {
            command.env_remove(name);
        }
    }
    command.spawn()
}

/// Whether `pid` is a live (not zombie) process whose command line names `zoo_cfg`: only such a
/// process may be signalled in a node's name.
///
/// The command line is empty while a process is inside execve (right after spawn, or while a
/// launcher script execs the server): callers give a new process a moment to show it.
pub fn runs_config(pid: u32, zoo_cfg: &Path) -> bool {
    is_alive(pid)
        && fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|cmdline| cmdline_names(&cmdline, zoo_cfg.as_os_str()))
}

/// Whether `pid` exists and is not a zombie.
pub fn is_alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| state_letter(&stat))
        .is_some_and(|state| state != 'Z' && state != 'X')
}

/// The state letter of a `/proc/<pid>/stat` line (after the command name, which may itself
/// contain spaces and parentheses).
fn state_letter(stat: &str) -> Option<char> {
    let after_name = stat.get(stat.rfind(')')? + 1..)?;
    after_name.split_whitespace().next()?.chars().next()
}

/// Whether a NUL-separated `/proc/<pid>/cmdline` has `arg` as one of its arguments.
fn cmdline_names(cmdline: &[u8], arg: &OsStr) -> bool {
    cmdline
        .split(|byte| *byte == 0)
        .any(|part| part == arg.as_bytes())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Term,
    Kill,
}

/// Sends `signal` with kill(1): the workspace forbids `unsafe`, which libc::kill would need.
pub fn send(pid: u32, signal: Signal) -> io::Result<()> {
    let name = match signal {
        Signal::Term => "TERM",
        Signal::Kill => "KILL",
    };
    let status = Command::new("kill")
        .args(["-s", name, &pid.to_string()])
        .stderr(Stdio::null())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("kill -s {name} {pid}: {status}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_state_letter() {
        assert_eq!(state_letter("42 (zk-server) S 1 42 42 0"), Some('S'));
        assert_eq!(state_letter("7 (odd) name (x)) Z 1"), Some('Z'));
        assert_eq!(state_letter("garbage"), None);
        assert_eq!(state_letter("1 (x)"), None);
    }

    #[test]
    fn finds_the_config_among_the_arguments() {
        let cmdline = b"java\0-cp\0a.jar\0Main\0/t/node1/zoo.cfg\0";
        assert!(cmdline_names(cmdline, OsStr::new("/t/node1/zoo.cfg")));
        assert!(!cmdline_names(cmdline, OsStr::new("/t/node2/zoo.cfg")));
        assert!(!cmdline_names(cmdline, OsStr::new("/t/node1")));
        assert!(!cmdline_names(b"", OsStr::new("/t/node1/zoo.cfg")));
    }

    #[test]
    fn recognises_a_live_process_by_its_arguments() {
        let marker =
            std::env::temp_dir().join(format!("zk-cluster-test-{}.cfg", std::process::id()));
        // `; true` keeps the shell itself running (no exec of the last command), with the
        // marker as its $0.
        let mut child = Command::new("sh")
            .args(["-c", "sleep 30; true"])
            .arg(&marker)
            .spawn()
            .unwrap();
        let pid = child.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !runs_config(pid, &marker) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let named = runs_config(pid, &marker);
        let other = runs_config(pid, Path::new("someone-else.cfg"));
        send(pid, Signal::Kill).unwrap();
        child.wait().unwrap();
        assert!(named);
        assert!(!other);
        assert!(
            !runs_config(pid, &marker),
            "a reaped process is not running"
        );
    }
}
