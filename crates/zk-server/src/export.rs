//! Going back to ZooKeeper: `zk-server --export-zookeeper DIR zoo.cfg` writes the database as
//! Apache ZooKeeper's own snapshot, `DIR/version-2/snapshot.<zxid>`, with our epoch files
//! beside it. ZooKeeper started with `dataDir=DIR` loads it as its own and goes on from the
//! same zxid, with the same sessions, ephemerals, ACLs and Stat values. Run it with the server
//! stopped: it reads the database the way a start does.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use zk_txnlog::{ACCEPTED_EPOCH, CURRENT_EPOCH};

use crate::config::Config;
use crate::storage::Storage;
use crate::zookeeper_files::write_snapshot;

/// Writes the snapshot and epoch files into `to/version-2` (which must hold no ZooKeeper data
/// yet); returns the snapshot's path.
pub fn export_zookeeper_data(config: &Config, to: &Path) -> anyhow::Result<PathBuf> {
    let dir = to.join("version-2");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let taken = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(Result::ok)
        .any(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.starts_with("snapshot.") || name.starts_with("log.")
        });
    if taken {
        bail!(
            "{} already holds ZooKeeper data; export into an empty directory",
            dir.display()
        );
    }
    let (storage, tree, _) = Storage::open(config, false)?;
    let name = format!("snapshot.{:x}", tree.last_zxid());
    zk_txnlog::write_atomic(&dir, &name, &write_snapshot(&tree))?;
    for epoch_file in [ACCEPTED_EPOCH, CURRENT_EPOCH] {
        if let Some(epoch) = zk_txnlog::read_epoch(storage.snapshot_dir(), epoch_file)? {
            zk_txnlog::write_epoch(&dir, epoch_file, epoch)?;
        }
    }
    let path = dir.join(name);
    tracing::info!(
        snapshot = %path.display(),
        zxid = format_args!("0x{:x}", tree.last_zxid()),
        nodes = tree.node_count(),
        sessions = tree.sessions().count(),
        "exported the database as ZooKeeper's snapshot"
    );
    Ok(path)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::zookeeper_files::read_snapshot;

    #[test]
    fn the_export_reads_back_as_the_database_and_never_overwrites() {
        let data = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: data.path().to_owned(),
            ..Config::default()
        };
        let (storage, tree, _) = Storage::open(&config, false).unwrap();
        zk_txnlog::write_epoch(storage.snapshot_dir(), CURRENT_EPOCH, 4).unwrap();
        drop(storage);

        let path = export_zookeeper_data(&config, out.path()).unwrap();
        assert_eq!(path, out.path().join("version-2").join("snapshot.0"));
        let (exported, _) = read_snapshot(Bytes::from(std::fs::read(&path).unwrap()), 0).unwrap();
        assert_eq!(exported.node_count(), tree.node_count());
        let epoch = zk_txnlog::read_epoch(&out.path().join("version-2"), CURRENT_EPOCH).unwrap();
        assert_eq!(epoch, Some(4));

        let again = export_zookeeper_data(&config, out.path()).unwrap_err();
        assert!(again.to_string().contains("already holds"), "{again}");
    }
}
