//! `cargo xtask interop [-- PYTEST_ARGS]`: the interop suite in tests/interop — real clients
//! (kazoo, zkCli.sh, raw sockets) against a real zk-server process.
//!
//! It builds zk-server, keeps a Python venv at `target/interop-venv` made from
//! tests/interop/requirements.txt (remade when that file's hash changes), and runs pytest with
//! `ZK_SERVER_BIN` pointing at the fresh binary.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::util::{cargo, run, workspace_root};

/// Where the venv lives, relative to the workspace root.
const VENV_DIR: &str = "target/interop-venv";
/// The suite, relative to the workspace root.
const SUITE_DIR: &str = "tests/interop";
/// Written into the venv once it is complete: the hash of the requirements it was made from.
const STAMP_FILE: &str = ".requirements-hash";

#[derive(Debug, Default, clap::Args)]
pub struct Args {
    /// Arguments for pytest, after `--` (e.g. `-- -k sessions -x`).
    #[arg(last = true)]
    pub pytest_args: Vec<String>,
}

pub fn main(args: Args) -> anyhow::Result<()> {
    let root = workspace_root();
    let server = build_server()?;
    let venv = ensure_venv(&root)?;
    let suite = root.join(SUITE_DIR);
    run(Command::new(venv.join("bin/python"))
        .args(["-m", "pytest"])
        .args(&args.pytest_args)
        .current_dir(&suite)
        .env("ZK_SERVER_BIN", &server))
    .context("the interop suite failed")?;
    eprintln!("xtask interop: passed");
    Ok(())
}

/// Builds zk-server (debug) and returns the binary's path in the target dir cargo really uses
/// (`CARGO_TARGET_DIR` and config included).
fn build_server() -> anyhow::Result<PathBuf> {
    run(cargo().args(["build", "--package", "zk-server", "--bin", "zk-server"]))?;
    let output = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("cannot run cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata = String::from_utf8(output.stdout).context("cargo metadata is not UTF-8")?;
    let target_dir =
        target_directory(&metadata).context("no target_directory in cargo metadata")?;
    let binary = Path::new(&target_dir).join("debug").join("zk-server");
    if !binary.is_file() {
        bail!("built zk-server, but {} is missing", binary.display());
    }
    Ok(binary)
}

/// The `target_directory` string of `cargo metadata` JSON (xtask has no JSON parser, and this
/// one field is a plain string: JSON escapes other than `\\` and `\"` do not occur in paths here).
fn target_directory(metadata: &str) -> Option<String> {
    let key = "\"target_directory\":\"";
    let start = metadata.find(key)? + key.len();
    let mut value = String::new();
    let mut chars = metadata.get(start..)?.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(value),
            '\\' => value.push(chars.next()?),
            other => value.push(other),
        }
    }
    None
}

/// Makes (or reuses) the venv; a venv made from other requirements, or left half made, is redone.
fn ensure_venv(root: &Path) -> anyhow::Result<PathBuf> {
    let venv = root.join(VENV_DIR);
    let requirements = root.join(SUITE_DIR).join("requirements.txt");
    let wanted = format!(
        "{:016x}",
        fnv1a(
            &fs::read(&requirements)
                .with_context(|| format!("cannot read {}", requirements.display()))?
        )
    );
    let stamp = venv.join(STAMP_FILE);
    if fs::read_to_string(&stamp).is_ok_and(|have| have.trim() == wanted)
        && venv.join("bin/python").is_file()
    {
        return Ok(venv);
    }
    eprintln!(
        "xtask interop: making {} from {}",
        venv.display(),
        requirements.display()
    );
    if venv.exists() {
        fs::remove_dir_all(&venv).with_context(|| format!("cannot remove {}", venv.display()))?;
    }
    run(Command::new("python3").arg("-m").arg("venv").arg(&venv))
        .context("python3 -m venv failed (Debian: apt-get install python3-venv)")?;
    run(Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "--disable-pip-version-check",
            "--quiet",
            "--requirement",
        ])
        .arg(&requirements))?;
    fs::write(&stamp, &wanted).with_context(|| format!("cannot write {}", stamp.display()))?;
    Ok(venv)
}

/// 64-bit FNV-1a: a stable content hash that needs no extra crate.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_target_directory() {
        let json = r#"{"packages":[],"target_directory":"/w/main/target/x","version":1}"#;
        assert_eq!(target_directory(json).as_deref(), Some("/w/main/target/x"));
        let escaped = r#"{"target_directory":"/odd\"dir\\t"}"#;
        assert_eq!(target_directory(escaped).as_deref(), Some("/odd\"dir\\t"));
        assert_eq!(
            target_directory(r#"{"target_directory":"/unterminated"#),
            None
        );
        assert_eq!(target_directory("{}"), None);
    }

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
