//! Where the server keeps its data: the transaction log and snapshots (zk-txnlog), recovery at
//! start-up, and the periodic purge of old files.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use zk_txnlog::{LogOptions, SnapshotStore, TxnLog};

use crate::config::Config;
use crate::server::Shared;
use crate::tree::DataTree;
use crate::{snapshot, txn};

/// What loading the database took: ZooKeeper's startup_snap_load_time, startup_txns_loaded and
/// startup_txns_load_time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Recovery {
    /// Logged transactions replayed after the snapshot.
    pub replayed: u64,
    pub snapshot_ms: u64,
    pub replay_ms: u64,
}

fn millis_since(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The open log and snapshot store.
#[derive(Debug)]
pub struct Storage {
    pub log: Arc<TxnLog>,
    pub snapshots: SnapshotStore,
}

impl Storage {
    /// Opens (creating if needed) `dataLogDir/txnlog` and `dataDir/snapshots`, and rebuilds the
    /// tree: the newest valid snapshot plus every later logged transaction (how many, too).
    /// A replica keeps the newest records in memory for its peers' catch-up.
    pub fn open(config: &Config, replica: bool) -> anyhow::Result<(Storage, DataTree, Recovery)> {
        let snap_dir = config.data_dir.join("snapshots");
        let log_dir = config.log_dir().join("txnlog");
        for dir in [&snap_dir, &log_dir] {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create data directory {}", dir.display()))?;
        }
        let snapshots = SnapshotStore::open(&snap_dir)
            .with_context(|| format!("cannot open snapshots in {}", snap_dir.display()))?;
        let options = LogOptions {
            prealloc_size: config.pre_alloc_size.saturating_mul(1024),
            sync: config.force_sync,
            slow_sync_warning: std::time::Duration::from_millis(config.fsync_warning_threshold_ms),
            recent_records: if replica {
                LogOptions::default().recent_records
            } else {
                0
            },
            ..LogOptions::default()
        };
        let (log, report) = TxnLog::open(&log_dir, options)
            .with_context(|| format!("cannot open the transaction log in {}", log_dir.display()))?;
        if let Some(torn) = &report.torn_tail {
            tracing::warn!(?torn, "cut off a torn write at the end of the log");
        }
        import_zookeeper_data(config, &snapshots, &log)?;
        let storage = Storage {
            log: Arc::new(log),
            snapshots,
        };
        let (tree, recovery) = storage.rebuild_tree()?;
        Ok((storage, tree, recovery))
    }

    /// The database as the disk holds it: the newest valid snapshot plus every later logged
    /// transaction (start-up, and after ZAB truncated the log); and what loading it took.
    pub fn rebuild_tree(&self) -> anyhow::Result<(DataTree, Recovery)> {
        let started = Instant::now();
        let mut tree = match self.snapshots.latest_valid()? {
            Some(reader) => {
                let file = reader.path().to_owned();
                snapshot::read_tree(reader)
                    .map_err(|e| anyhow::anyhow!("cannot read snapshot {}: {e}", file.display()))?
            }
            None => DataTree::new(),
        };
        let snapshot_ms = millis_since(started);
        let started = Instant::now();
        let snapshot_zxid = tree.last_zxid();
        let mut replayed = 0u64;
        for record in self.log.iter_from(snapshot_zxid + 1)? {
            let (zxid, bytes) = record?;
            let (header, txn) = txn::decode(bytes)
                .with_context(|| format!("cannot decode logged transaction 0x{zxid:x}"))?;
            tree.apply(&header, &txn);
            replayed += 1;
        }
        tracing::info!(
            snapshot_zxid = format_args!("0x{snapshot_zxid:x}"),
            replayed,
            last_zxid = format_args!("0x{:x}", tree.last_zxid()),
            nodes = tree.node_count(),
            sessions = tree.sessions().count(),
            "database recovered"
        );
        let recovery = Recovery {
            replayed,
            snapshot_ms,
            replay_ms: millis_since(started),
        };
        Ok((tree, recovery))
    }

    pub fn log_dir(&self) -> &Path {
        self.log.dir()
    }

    pub fn snapshot_dir(&self) -> &Path {
        self.snapshots.dir()
    }
}

/// Imports Apache ZooKeeper's data (see [`crate::import`]) on a first start, or again after an
/// import was cut short (whatever it had written is removed first).
fn import_zookeeper_data(
    config: &Config,
    snapshots: &SnapshotStore,
    log: &TxnLog,
) -> anyhow::Result<()> {
    let interrupted = snapshots.dir().join(crate::import::IMPORT_MARKER).exists();
    if interrupted {
        tracing::warn!("an import of ZooKeeper's data was cut short; starting it again");
        log.truncate_after(-1)?;
        snapshots.remove_newer_than(-1)?;
    } else if snapshots.newest()?.is_some() || log.last_logged_zxid() >= 0 {
        return Ok(());
    }
    let imported =
        crate::import::import_zookeeper_data(&config.data_dir, &config.log_dir(), snapshots, log)
            .context("cannot import Apache ZooKeeper's data found in the data directory")?;
    let Some(imported) = imported else {
        return Ok(());
    };
    let digest = match imported.digest {
        None => "not recorded by ZooKeeper",
        Some((recorded, ours)) if recorded == ours => "matches ZooKeeper's",
        Some((recorded, ours)) => {
            // ZooKeeper too reports a digest mismatch and serves on.
            tracing::warn!(
                recorded,
                ours,
                "the imported tree's digest differs from the one ZooKeeper recorded"
            );
            "differs from ZooKeeper's"
        }
    };
    tracing::info!(
        snapshot = ?imported.snapshot,
        snapshot_zxid = format_args!("0x{:x}", imported.snapshot_zxid),
        logs = imported.logs,
        txns = imported.txns,
        last_zxid = format_args!("0x{:x}", imported.last_zxid),
        digest,
        "imported Apache ZooKeeper's data (its files are left as they were)"
    );
    Ok(())
}

/// Purges old snapshots and log segments every `autopurge.purgeInterval` hours (off at 0).
pub fn spawn_purge(shared: Arc<Shared>) {
    let hours = shared.config.autopurge_purge_interval;
    if hours == 0 {
        return;
    }
    let retain =
        (shared.config.autopurge_snap_retain_count as usize).max(zk_txnlog::MIN_RETAIN_COUNT);
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(hours * 3600));
        loop {
            ticker.tick().await;
            let shared = shared.clone();
            let result = tokio::task::spawn_blocking(move || {
                zk_txnlog::purge(&shared.storage.log, &shared.storage.snapshots, retain)
            })
            .await;
            match result {
                Ok(Ok(report)) => tracing::info!(?report, "purged old snapshots and logs"),
                Ok(Err(error)) => tracing::warn!(%error, "purge failed"),
                Err(error) => tracing::warn!(%error, "purge task failed"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;
    use crate::import::IMPORT_MARKER;
    use crate::zookeeper_files::fixtures::{create_body, entry, header, snapshot_bytes};
    use crate::zookeeper_files::{LOG_MAGIC, op};

    /// A ZooKeeper snapshot at zxid 7 and a log with two later creates, one of them ephemeral.
    fn write_zookeeper_files(dir: &Path) {
        let zookeeper = dir.join("version-2");
        std::fs::create_dir_all(&zookeeper).unwrap();
        std::fs::write(zookeeper.join("snapshot.7"), snapshot_bytes()).unwrap();
        let mut log = BytesMut::new();
        header(&mut log, LOG_MAGIC);
        entry(&mut log, 0x55, 8, op::CREATE, &create_body("/x", false, 1));
        entry(&mut log, 0x55, 9, op::CREATE, &create_body("/y", true, 2));
        std::fs::write(zookeeper.join("log.8"), log).unwrap();
        std::fs::write(zookeeper.join(zk_txnlog::CURRENT_EPOCH), "3").unwrap();
    }

    fn assert_imported(tree: &DataTree) {
        assert_eq!(tree.last_zxid(), 9);
        assert_eq!(tree.get("/a").unwrap().data(), Some(&b"data"[..]));
        assert!(tree.get("/x").is_some());
        assert_eq!(tree.get("/y").unwrap().owner(), 0x55);
    }

    #[test]
    fn zookeepers_log_is_found_in_its_own_data_log_dir() {
        let data = tempfile::tempdir().unwrap();
        let logs = tempfile::tempdir().unwrap();
        write_zookeeper_files(data.path());
        std::fs::create_dir_all(logs.path().join("version-2")).unwrap();
        let log = data.path().join("version-2").join("log.8");
        std::fs::rename(&log, logs.path().join("version-2").join("log.8")).unwrap();
        let config = Config {
            data_dir: data.path().to_owned(),
            data_log_dir: Some(logs.path().to_owned()),
            ..Config::default()
        };
        let (storage, tree, recovery) = Storage::open(&config, false).unwrap();
        assert_imported(&tree);
        assert_eq!(recovery.replayed, 2);
        assert!(storage.log_dir().starts_with(logs.path()));
    }

    #[test]
    fn zookeepers_files_are_imported_once_and_again_after_an_interruption() {
        let dir = tempfile::tempdir().unwrap();
        write_zookeeper_files(dir.path());
        let config = Config {
            data_dir: dir.path().to_owned(),
            ..Config::default()
        };
        let snapshots = dir.path().join("snapshots");

        let (storage, tree, recovery) = Storage::open(&config, false).unwrap();
        assert_imported(&tree);
        // The transactions after ZooKeeper's snapshot are in our log, replayed like our own.
        assert_eq!(recovery.replayed, 2);
        assert_eq!(storage.log.last_logged_zxid(), 9);
        let epoch = zk_txnlog::read_epoch(&snapshots, zk_txnlog::CURRENT_EPOCH).unwrap();
        assert_eq!(epoch, Some(3));
        assert!(!snapshots.join(IMPORT_MARKER).exists());
        drop(storage);

        // Our own files are the database from now on.
        std::fs::remove_dir_all(dir.path().join("version-2")).unwrap();
        let (storage, tree, _) = Storage::open(&config, false).unwrap();
        assert_imported(&tree);
        drop(storage);

        // An import cut short is done again from scratch.
        write_zookeeper_files(dir.path());
        std::fs::write(snapshots.join(IMPORT_MARKER), b"").unwrap();
        let (storage, tree, recovery) = Storage::open(&config, false).unwrap();
        assert_imported(&tree);
        assert_eq!(recovery.replayed, 2);
        assert_eq!(storage.snapshots.list().unwrap(), vec![7]);
        assert!(!snapshots.join(IMPORT_MARKER).exists());
    }
}
