//! Where the server keeps its data: the transaction log and snapshots (zk-txnlog), recovery at
//! start-up, and the periodic purge of old files.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use zk_txnlog::{LogOptions, SnapshotStore, TxnLog};

use crate::config::Config;
use crate::server::Shared;
use crate::tree::DataTree;
use crate::{snapshot, txn};

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
    pub fn open(config: &Config, replica: bool) -> anyhow::Result<(Storage, DataTree, u64)> {
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
        if snapshots.newest()?.is_none() && log.last_logged_zxid() < 0 {
            let imported = crate::import::import_zookeeper_data(
                &config.data_dir,
                &config.log_dir(),
                &snapshots,
            )
            .context("cannot import Apache ZooKeeper's data found in the data directory")?;
            if let Some(imported) = imported {
                tracing::info!(
                    last_zxid = format_args!("0x{:x}", imported.last_zxid),
                    nodes = imported.nodes,
                    sessions = imported.sessions,
                    snapshot = ?imported.snapshot,
                    logs = imported.logs,
                    "imported Apache ZooKeeper's data (its files are left as they were)"
                );
            }
        }
        let storage = Storage {
            log: Arc::new(log),
            snapshots,
        };
        let (tree, replayed) = storage.rebuild_tree()?;
        Ok((storage, tree, replayed))
    }

    /// The database as the disk holds it: the newest valid snapshot plus every later logged
    /// transaction (start-up, and after ZAB truncated the log); and how many were replayed.
    pub fn rebuild_tree(&self) -> anyhow::Result<(DataTree, u64)> {
        let mut tree = match self.snapshots.latest_valid()? {
            Some(reader) => {
                let file = reader.path().to_owned();
                snapshot::read_tree(reader)
                    .map_err(|e| anyhow::anyhow!("cannot read snapshot {}: {e}", file.display()))?
            }
            None => DataTree::new(),
        };
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
        Ok((tree, replayed))
    }

    pub fn log_dir(&self) -> &Path {
        self.log.dir()
    }

    pub fn snapshot_dir(&self) -> &Path {
        self.snapshots.dir()
    }
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
