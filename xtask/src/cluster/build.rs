//! Building zk-server and finding the binary cargo really produced (whatever CARGO_TARGET_DIR
//! or profile is in force), from cargo's own JSON messages.

use std::path::PathBuf;
use std::process::Stdio;

use anyhow::{Context, bail};

use crate::util::cargo;

/// `cargo build -p zk-server` (release or debug); returns the executable.
pub fn zk_server(release: bool) -> anyhow::Result<PathBuf> {
    let mut command = cargo();
    command.args([
        "build",
        "--package",
        "zk-server",
        "--bin",
        "zk-server",
        "--message-format",
        "json-render-diagnostics",
    ]);
    if release {
        command.arg("--release");
    }
    eprintln!("xtask: running {command:?}");
    let output = command
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo build")?;
    if !output.status.success() {
        bail!("building zk-server failed with {}", output.status);
    }
    let messages = String::from_utf8_lossy(&output.stdout);
    executable(&messages, "zk-server").context("cargo built no zk-server executable")
}

/// The `executable` of the last compiler-artifact message for binary `name`.
fn executable(messages: &str, name: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter(|message| message["target"]["name"] == name)
        .filter_map(|message| message["executable"].as_str().map(PathBuf::from))
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_executable_among_the_messages() {
        let messages = r#"{"reason":"compiler-artifact","target":{"name":"zk-proto"},"executable":null}
not json
{"reason":"compiler-artifact","target":{"name":"zk-server"},"executable":"/t/debug/zk-server"}
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            executable(messages, "zk-server"),
            Some(PathBuf::from("/t/debug/zk-server"))
        );
        assert_eq!(executable(messages, "zk-proto"), None);
        assert_eq!(executable("", "zk-server"), None);
    }
}
