//! Moving a ZooKeeper deployment over with its data. The first time this server starts on a
//! data directory that holds Apache ZooKeeper's files (`version-2/` under dataDir and
//! dataLogDir) and none of ours, ZooKeeper's newest valid snapshot plus every transaction it
//! logged after it become our first snapshot, and its epoch files become ours, so that sessions,
//! ephemerals, zxids and every Stat carry on. ZooKeeper's files are only read, never changed.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use bytes::Bytes;
use zk_txnlog::{ACCEPTED_EPOCH, CURRENT_EPOCH, SnapshotStore};

use crate::tree::DataTree;
use crate::zookeeper_files::{read_log, read_snapshot};

/// ZooKeeper's subdirectory of dataDir and dataLogDir.
const ZOOKEEPER_DIR: &str = "version-2";

/// What an import brought over.
#[derive(Debug)]
pub struct Imported {
    pub last_zxid: i64,
    pub nodes: usize,
    pub sessions: usize,
    pub snapshot: Option<PathBuf>,
    pub logs: usize,
}

/// Imports ZooKeeper's data found under `data_dir` and `log_dir` into `snapshots` (which must
/// hold none of ours yet); `None` when there is none. Fails, rather than starting empty, when
/// ZooKeeper's files are there but cannot be read whole.
pub fn import_zookeeper_data(
    data_dir: &Path,
    log_dir: &Path,
    snapshots: &SnapshotStore,
) -> anyhow::Result<Option<Imported>> {
    let snap_dir = data_dir.join(ZOOKEEPER_DIR);
    let log_dir = log_dir.join(ZOOKEEPER_DIR);
    let snapshot_files = files_named(&snap_dir, "snapshot.")?;
    let log_files = files_named(&log_dir, "log.")?;
    if snapshot_files.is_empty() && log_files.is_empty() {
        return Ok(None);
    }
    let (mut tree, snapshot) = newest_readable_snapshot(&snapshot_files)?;
    let mut logs = 0;
    for (index, (start, path)) in log_files.iter().enumerate() {
        // A log whose successor starts at or before the snapshot holds nothing newer.
        if log_files
            .get(index + 1)
            .is_some_and(|(next, _)| *next <= tree.last_zxid() + 1)
        {
            continue;
        }
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let file = read_log(Bytes::from(bytes))
            .map_err(|e| anyhow::anyhow!("ZooKeeper log {}: {e}", path.display()))?;
        for (header, txn) in &file.txns {
            if header.zxid > tree.last_zxid() {
                tree.apply(header, txn);
            }
        }
        logs += 1;
        if let Some(why) = file.ended_early {
            if index + 1 < log_files.len() {
                bail!(
                    "ZooKeeper log {} (from zxid 0x{start:x}) is damaged before later logs: {why}",
                    path.display()
                );
            }
            tracing::warn!(log = %path.display(), %why, "ZooKeeper's last log ends early; imported up to there, as ZooKeeper would load it");
        }
    }
    let last_zxid = tree.last_zxid();
    snapshots
        .write(last_zxid, |out| {
            crate::snapshot::write_tree(&tree, out).map(|_| ())
        })
        .context("writing the imported snapshot")?;
    for name in [ACCEPTED_EPOCH, CURRENT_EPOCH] {
        if let Some(epoch) = zk_txnlog::read_epoch(&snap_dir, name)? {
            zk_txnlog::write_epoch(snapshots.dir(), name, epoch)?;
        }
    }
    Ok(Some(Imported {
        last_zxid,
        nodes: tree.node_count(),
        sessions: tree.sessions().count(),
        snapshot,
        logs,
    }))
}

/// The tree of the newest snapshot that reads whole (ZooKeeper too falls back to older ones),
/// or an empty tree when there is no snapshot at all.
fn newest_readable_snapshot(
    files: &[(i64, PathBuf)],
) -> anyhow::Result<(DataTree, Option<PathBuf>)> {
    if files.is_empty() {
        return Ok((DataTree::new(), None));
    }
    let mut problems = Vec::new();
    for (zxid, path) in files.iter().rev() {
        let read = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| read_snapshot(Bytes::from(bytes), *zxid));
        match read {
            Ok(tree) => return Ok((tree, Some(path.clone()))),
            Err(why) => {
                tracing::warn!(snapshot = %path.display(), %why, "skipping a ZooKeeper snapshot");
                problems.push(format!("{}: {why}", path.display()));
            }
        }
    }
    bail!(
        "none of ZooKeeper's snapshots can be read: {}",
        problems.join("; ")
    )
}

/// `<prefix><hex zxid>` files in `dir`, ascending by zxid (none if `dir` does not exist).
/// Compressed snapshots (`.gz`, `.snap`) are refused with the way out.
fn files_named(dir: &Path, prefix: &str) -> anyhow::Result<Vec<(i64, PathBuf)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(suffix) = name.strip_prefix(prefix) else {
            continue;
        };
        if suffix.ends_with(".gz") || suffix.ends_with(".snap") {
            bail!(
                "{} is compressed, which cannot be imported: restart ZooKeeper once with \
                 zookeeper.snapshot.compression.method unset, so that it writes a plain snapshot",
                entry.path().display()
            );
        }
        if let Ok(zxid) = i64::from_str_radix(suffix, 16) {
            files.push((zxid, entry.path()));
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_zookeeper_files_means_nothing_to_import() {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::open(dir.path().join("snapshots")).unwrap();
        let imported = import_zookeeper_data(dir.path(), dir.path(), &store).unwrap();
        assert!(imported.is_none());
        assert!(store.newest().unwrap().is_none());
    }

    #[test]
    fn compressed_snapshots_are_refused_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(ZOOKEEPER_DIR)).unwrap();
        std::fs::write(dir.path().join(ZOOKEEPER_DIR).join("snapshot.1f.gz"), b"x").unwrap();
        let store = SnapshotStore::open(dir.path().join("snapshots")).unwrap();
        let error = import_zookeeper_data(dir.path(), dir.path(), &store).unwrap_err();
        assert!(error.to_string().contains("compressed"), "{error}");
    }

    #[test]
    fn unreadable_snapshots_fail_the_import_instead_of_starting_empty() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(ZOOKEEPER_DIR)).unwrap();
        std::fs::write(
            dir.path().join(ZOOKEEPER_DIR).join("snapshot.0"),
            b"garbage",
        )
        .unwrap();
        let store = SnapshotStore::open(dir.path().join("snapshots")).unwrap();
        assert!(import_zookeeper_data(dir.path(), dir.path(), &store).is_err());
        assert!(store.newest().unwrap().is_none());
    }
}
