//! `cluster.json`: how a later `cargo xtask cluster ...` finds the processes a `start` left
//! running (pids, ports, and the server command for restarts).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::ensemble::ClusterState;

pub fn path(dir: &Path) -> PathBuf {
    dir.join("cluster.json")
}

/// The recorded state, or `None` when the directory holds no ensemble.
pub fn load(dir: &Path) -> anyhow::Result<Option<ClusterState>> {
    let path = path(dir);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
    };
    let state = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a cluster state file", path.display()))?;
    Ok(Some(state))
}

/// Like [`load`], but a missing file is an error that says what to do.
pub fn require(dir: &Path) -> anyhow::Result<ClusterState> {
    load(dir)?.with_context(|| {
        format!(
            "no ensemble in {} (no cluster.json): run `cargo xtask cluster start` first",
            dir.display()
        )
    })
}

/// Writes through a temporary file and a rename, so that a reader never sees half a file.
pub fn save(dir: &Path, state: &ClusterState) -> anyhow::Result<()> {
    let path = path(dir);
    let temporary = dir.join("cluster.json.tmp");
    let text = serde_json::to_string_pretty(state)?;
    fs::write(&temporary, text + "\n")
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    fs::rename(&temporary, &path).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::super::ensemble::{NodeRecord, ServerCommand};
    use super::*;

    #[test]
    fn state_survives_a_round_trip() {
        let dir = std::env::temp_dir().join(format!("xtask-state-file-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        assert!(load(&dir).unwrap().is_none());
        assert!(require(&dir).is_err());
        let state = ClusterState {
            server: ServerCommand {
                program: "/bin/zk-server".into(),
                args: vec!["-x".into()],
            },
            nodes: vec![NodeRecord {
                id: 1,
                observer: false,
                client_port: 1,
                quorum_port: 2,
                election_port: 3,
                admin_port: 4,
                pid: Some(42),
            }],
        };
        save(&dir, &state).unwrap();
        assert_eq!(load(&dir).unwrap(), Some(state));
        fs::write(path(&dir), "{").unwrap();
        assert!(load(&dir).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
