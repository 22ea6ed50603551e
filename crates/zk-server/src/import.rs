//! Moving a ZooKeeper deployment over with its data. The first time this server starts on a
//! data directory that holds Apache ZooKeeper's files (`version-2/` under dataDir and
//! dataLogDir) and none of ours, ZooKeeper's newest valid snapshot becomes our first snapshot,
//! every transaction ZooKeeper logged after it is appended to our log, and its epoch files
//! become ours: sessions, ephemerals, zxids and every Stat carry on. A member's uncommitted
//! tail thus stays in the log, where ZAB's TRUNC can still remove it, as in ZooKeeper's own
//! files. ZooKeeper's files are only read, never changed.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use bytes::{Bytes, BytesMut};
use zk_txnlog::{ACCEPTED_EPOCH, CURRENT_EPOCH, SnapshotStore, TxnLog};

use crate::tree::DataTree;
use crate::txn::{self, Txn, TxnHeader};
use crate::zookeeper_files::{Compression, read_log, read_snapshot, uncompressed};

/// ZooKeeper's subdirectory of dataDir and dataLogDir.
const ZOOKEEPER_DIR: &str = "version-2";

/// A ZooKeeper data file: the zxid in its name, its path, and how it is compressed.
type ZooKeeperFile = (i64, PathBuf, Compression);

/// Present in our snapshot directory while an import is being written: an import that was cut
/// short is started again from scratch.
pub const IMPORT_MARKER: &str = "zookeeper-import.incomplete";

/// What an import brought over.
#[derive(Debug)]
pub struct Imported {
    pub snapshot: Option<PathBuf>,
    pub snapshot_zxid: i64,
    pub logs: usize,
    pub txns: usize,
    pub last_zxid: i64,
}

/// Imports ZooKeeper's data found under `data_dir` and `log_dir` into `snapshots` and `log`
/// (which must hold none of ours); `None` when there is none. Fails, rather than starting
/// empty, when ZooKeeper's files are there but cannot be read whole.
pub fn import_zookeeper_data(
    data_dir: &Path,
    log_dir: &Path,
    snapshots: &SnapshotStore,
    log: &TxnLog,
) -> anyhow::Result<Option<Imported>> {
    let snap_dir = data_dir.join(ZOOKEEPER_DIR);
    let log_dir = log_dir.join(ZOOKEEPER_DIR);
    let snapshot_files = files_named(&snap_dir, "snapshot.")?;
    let log_files = files_named(&log_dir, "log.")?;
    if snapshot_files.is_empty() && log_files.is_empty() {
        return Ok(None);
    }
    let (tree, snapshot) = newest_readable_snapshot(&snapshot_files)?;
    let snapshot_zxid = tree.last_zxid();
    let (txns, logs) = transactions_after(snapshot_zxid, &log_files)?;
    let last_zxid = txns.last().map_or(snapshot_zxid, |(header, _)| header.zxid);

    mark(snapshots.dir(), true)?;
    snapshots
        .write(snapshot_zxid, |out| {
            crate::snapshot::write_tree(&tree, out).map(|_| ())
        })
        .context("writing the imported snapshot")?;
    let mut records = BytesMut::new();
    let mut last = None;
    for (header, txn) in &txns {
        last = Some(log.append(header.zxid, txn::encode_into(&mut records, header, txn))?);
    }
    if let Some(last) = last {
        // A plain wait: this runs once, at start-up, before anything is served.
        futures::executor::block_on(last).context("logging the imported transactions")?;
    }
    for name in [ACCEPTED_EPOCH, CURRENT_EPOCH] {
        if let Some(epoch) = zk_txnlog::read_epoch(&snap_dir, name)? {
            zk_txnlog::write_epoch(snapshots.dir(), name, epoch)?;
        }
    }
    mark(snapshots.dir(), false)?;
    Ok(Some(Imported {
        snapshot,
        snapshot_zxid,
        logs,
        txns: txns.len(),
        last_zxid,
    }))
}

/// Every transaction ZooKeeper logged after `snapshot_zxid`, in zxid order, and how many log
/// files held them.
fn transactions_after(
    snapshot_zxid: i64,
    log_files: &[ZooKeeperFile],
) -> anyhow::Result<(Vec<(TxnHeader, Txn)>, usize)> {
    let mut txns: Vec<(TxnHeader, Txn)> = Vec::new();
    let mut logs = 0;
    for (index, (start, path, _)) in log_files.iter().enumerate() {
        // A log whose successor starts at or before the snapshot holds nothing newer.
        if log_files
            .get(index + 1)
            .is_some_and(|(next, _, _)| *next <= snapshot_zxid + 1)
        {
            continue;
        }
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let file = read_log(Bytes::from(bytes))
            .map_err(|e| anyhow::anyhow!("ZooKeeper log {}: {e}", path.display()))?;
        for (header, txn) in file.txns {
            let newest = txns.last().map_or(snapshot_zxid, |(last, _)| last.zxid);
            if header.zxid > newest {
                txns.push((header, txn));
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
    Ok((txns, logs))
}

/// Creates (`true`) or removes the [`IMPORT_MARKER`] in `dir`, durably.
fn mark(dir: &Path, importing: bool) -> anyhow::Result<()> {
    let path = dir.join(IMPORT_MARKER);
    if importing {
        File::create(&path)
            .and_then(|file| file.sync_all())
            .with_context(|| format!("creating {}", path.display()))?;
    } else {
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    }
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))
}

/// The tree of the newest snapshot that reads whole (ZooKeeper too falls back to older ones),
/// or an empty tree when there is no snapshot at all.
fn newest_readable_snapshot(
    files: &[ZooKeeperFile],
) -> anyhow::Result<(DataTree, Option<PathBuf>)> {
    if files.is_empty() {
        return Ok((DataTree::new(), None));
    }
    let mut problems = Vec::new();
    for (zxid, path, compression) in files.iter().rev() {
        let read = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| uncompressed(*compression, Bytes::from(bytes)))
            .and_then(|bytes| read_snapshot(bytes, *zxid));
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

/// `<prefix><hex zxid>[.gz|.snappy]` files in `dir`, ascending by zxid (none if `dir` does not
/// exist), with the compression their name says.
fn files_named(dir: &Path, prefix: &str) -> anyhow::Result<Vec<ZooKeeperFile>> {
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
        let (compression, zxid) = Compression::of(suffix);
        if let Ok(zxid) = i64::from_str_radix(zxid, 16) {
            files.push((zxid, entry.path(), compression));
        }
    }
    files.sort_by_key(|(zxid, _, _)| *zxid);
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(dir: &Path) -> (SnapshotStore, TxnLog) {
        let store = SnapshotStore::open(dir.join("snapshots")).unwrap();
        let (log, _) = TxnLog::open(dir.join("txnlog"), zk_txnlog::LogOptions::default()).unwrap();
        (store, log)
    }

    #[test]
    fn no_zookeeper_files_means_nothing_to_import() {
        let dir = tempfile::tempdir().unwrap();
        let (store, log) = ours(dir.path());
        let imported = import_zookeeper_data(dir.path(), dir.path(), &store, &log).unwrap();
        assert!(imported.is_none());
        assert!(store.newest().unwrap().is_none());
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
        let (store, log) = ours(dir.path());
        assert!(import_zookeeper_data(dir.path(), dir.path(), &store, &log).is_err());
        assert!(store.newest().unwrap().is_none());
    }
}
