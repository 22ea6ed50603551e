//! Moving a ZooKeeper deployment over with its data. The first time this server starts on a
//! data directory that holds Apache ZooKeeper's files (`version-2/` under dataDir and
//! dataLogDir) and none of ours, ZooKeeper's newest valid snapshot becomes our first snapshot,
//! every transaction ZooKeeper logged after it is appended to our log, and its epoch files
//! become ours: sessions, ephemerals, zxids and every Stat carry on. A member's uncommitted
//! tail thus stays in the log, where ZAB's TRUNC can still remove it, as in ZooKeeper's own
//! files. ZooKeeper's files are only read, never changed.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use bytes::{Bytes, BytesMut};
use zk_txnlog::{ACCEPTED_EPOCH, CURRENT_EPOCH, SnapshotStore, TxnLog};

use crate::tree::DataTree;
use crate::txn::{self, Txn, TxnHeader};
use crate::zookeeper_files::{Compression, ZxidDigest, read_log, read_snapshot, uncompressed};

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
    /// ZooKeeper's recorded tree digest at `last_zxid` and the imported tree's, when ZooKeeper
    /// recorded one there (3.6+ with its default `digest.enabled`).
    pub digest: Option<(i64, i64)>,
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
    let (mut tree, snapshot, snapshot_digest) = newest_readable_snapshot(&snapshot_files)?;
    let snapshot_zxid = tree.last_zxid();
    let LoggedAfter {
        txns,
        logs,
        last_digest: log_digest,
    } = transactions_after(snapshot_zxid, &log_files)?;
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
    // ZooKeeper's own integrity check: the tree after the last imported transaction against the
    // digest ZooKeeper recorded there (in the log, or with a snapshot nothing followed).
    for (header, txn) in &txns {
        tree.apply(header, txn);
    }
    let digest = log_digest
        .or(snapshot_digest)
        .filter(|recorded| recorded.zxid == last_zxid)
        .map(|recorded| (recorded.digest, tree.digest()));
    Ok(Some(Imported {
        snapshot,
        snapshot_zxid,
        logs,
        txns: txns.len(),
        last_zxid,
        digest,
    }))
}

/// What ZooKeeper logged after its snapshot.
#[derive(Debug, Default)]
struct LoggedAfter {
    /// In zxid order.
    txns: Vec<(TxnHeader, Txn)>,
    /// How many log files held them.
    logs: usize,
    /// The tree digest after the last entry that recorded one.
    last_digest: Option<ZxidDigest>,
}

/// Every transaction ZooKeeper logged after `snapshot_zxid`.
fn transactions_after(
    snapshot_zxid: i64,
    log_files: &[ZooKeeperFile],
) -> anyhow::Result<LoggedAfter> {
    let mut after = LoggedAfter::default();
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
            let newest = after
                .txns
                .last()
                .map_or(snapshot_zxid, |(last, _)| last.zxid);
            if header.zxid > newest {
                after.txns.push((header, txn));
            }
        }
        after.logs += 1;
        after.last_digest = file.last_digest.or(after.last_digest);
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
    Ok(after)
}

/// Creates (`true`) or removes the [`IMPORT_MARKER`] in `dir`, durably.
fn mark(dir: &Path, importing: bool) -> anyhow::Result<()> {
    if importing {
        zk_txnlog::write_atomic(dir, IMPORT_MARKER, b"")?;
    } else {
        zk_txnlog::remove_file(&dir.join(IMPORT_MARKER))?;
        zk_txnlog::sync_dir(dir)?;
    }
    Ok(())
}

/// The tree (and sealed digest) of the newest snapshot that reads whole (ZooKeeper too falls
/// back to older ones), or an empty tree when there is no snapshot at all.
fn newest_readable_snapshot(
    files: &[ZooKeeperFile],
) -> anyhow::Result<(DataTree, Option<PathBuf>, Option<ZxidDigest>)> {
    if files.is_empty() {
        return Ok((DataTree::new(), None, None));
    }
    let mut problems = Vec::new();
    for (zxid, path, compression) in files.iter().rev() {
        let read = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| uncompressed(*compression, Bytes::from(bytes)))
            .and_then(|bytes| read_snapshot(bytes, *zxid));
        match read {
            Ok((tree, digest)) => return Ok((tree, Some(path.clone()), digest)),
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
    fn the_digest_zookeeper_recorded_is_compared_with_the_imported_trees() {
        use crate::zookeeper_files::fixtures::{create_body, entry, header, snapshot_bytes};
        use crate::zookeeper_files::{LOG_MAGIC, op};

        let dir = tempfile::tempdir().unwrap();
        let zookeeper = dir.path().join(ZOOKEEPER_DIR);
        std::fs::create_dir(&zookeeper).unwrap();
        std::fs::write(zookeeper.join("snapshot.7"), snapshot_bytes()).unwrap();
        let mut log = BytesMut::new();
        header(&mut log, LOG_MAGIC);
        // The fixture's entries record 99 as the tree's digest: not this tree's.
        entry(&mut log, 0x55, 8, op::CREATE, &create_body("/x", false, 1));
        std::fs::write(zookeeper.join("log.8"), log).unwrap();
        let (store, txnlog) = ours(dir.path());
        let imported = import_zookeeper_data(dir.path(), dir.path(), &store, &txnlog)
            .unwrap()
            .unwrap();
        let (recorded, computed) = imported.digest.unwrap();
        assert_eq!(recorded, 99);
        assert_ne!(computed, 99);
        assert_eq!(
            (imported.snapshot_zxid, imported.last_zxid, imported.txns),
            (7, 8, 1)
        );
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
