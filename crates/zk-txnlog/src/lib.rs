//! Durable storage for a ZooKeeper-compatible server: a transaction log of `(zxid, bytes)` records
//! with group commit, checksummed snapshots named by zxid, the `acceptedEpoch`/`currentEpoch` files,
//! crash recovery and retention. The crate knows bytes only; it never parses a txn or a znode.
//!
//! ```
//! use std::io::Read;
//! use zk_txnlog::{LogOptions, SnapshotStore, TxnLog};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let (log, report) = TxnLog::open(dir.path().join("log"), LogOptions::default())?;
//! assert_eq!(report.last_zxid, -1);
//!
//! // Appends queue up and share one fdatasync; each handle resolves once its record is durable.
//! let a = log.append(1, &b"create /a"[..])?;
//! let b = log.append(2, &b"set /a"[..])?;
//! a.wait()?;
//! b.wait()?;
//! assert_eq!(*log.durable_zxid().borrow(), 2);
//!
//! // Snapshot + replay: newest valid snapshot, then the log from the record after it.
//! let snapshots = SnapshotStore::open(dir.path().join("snap"))?;
//! snapshots.write(1, |w| w.write_all(b"tree with /a"))?;
//! let mut snapshot = snapshots.latest_valid()?.expect("a snapshot");
//! let mut state = Vec::new();
//! snapshot.read_to_end(&mut state)?;
//! let replay: Vec<i64> = log
//!     .iter_from(snapshot.zxid() + 1)?
//!     .map(|r| r.map(|(zxid, _payload)| zxid))
//!     .collect::<Result<_, _>>()?;
//! assert_eq!(replay, vec![2]);
//! # Ok(())
//! # }
//! ```
//!
//! The on-disk format and the durability argument are in `README.md` next to this crate.

mod epoch;
mod error;
pub mod format;
mod fsutil;
mod log;
mod naming;
mod purge;
mod recent;
mod recovery;
mod scan;
mod segment_reader;
mod snapshot;
mod sync_stats;
mod writer;

pub use epoch::{
    ACCEPTED_EPOCH, CURRENT_EPOCH, Epochs, UPDATING_EPOCH, begin_epoch_update, check_epochs,
    epoch_of, finish_epoch_update, read_epoch, write_epoch,
};
pub use error::{LogError, Result};
/// Durable small-file writes and removals, for the files that sit beside the log and snapshots.
pub use fsutil::{remove_file, sync_dir, write_atomic};
pub use log::{Appended, LogIter, LogOptions, TxnLog};
pub use purge::{MIN_RETAIN_COUNT, PurgeReport, purge};
pub use recovery::{DiscardedCorruption, RecoveryReport, TornTail};
pub use snapshot::{SnapshotReader, SnapshotStore};
pub use sync_stats::{Series, Summary, SyncStats};
