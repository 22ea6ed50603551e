//! Retention (quorum spec §9.9): keep the N newest valid snapshots and the log segments they need.

use std::path::PathBuf;

use crate::error::{LogError, Result};
use crate::fsutil;
use crate::log::TxnLog;
use crate::naming::{self, LOG_PREFIX, SNAPSHOT_PREFIX};
use crate::snapshot::SnapshotStore;

/// Smaller retain counts are raised to this, as ZooKeeper does.
pub const MIN_RETAIN_COUNT: usize = 3;

/// What [`purge`] deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Zxid of the oldest snapshot kept; `None` when there was no valid snapshot (nothing deleted).
    pub oldest_kept_snapshot: Option<i64>,
    /// Deleted log segments.
    pub deleted_segments: Vec<PathBuf>,
    /// Deleted snapshot files.
    pub deleted_snapshots: Vec<PathBuf>,
}

/// Which files to delete (pure: zxids in, zxids out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Selection {
    pub oldest_kept: Option<i64>,
    pub segments: Vec<i64>,
    pub snapshots: Vec<i64>,
}

/// `segment_bases` and `snapshots` in any order; `valid_newest_first` are the valid snapshots' zxids.
pub(crate) fn select(
    segment_bases: &[i64],
    snapshots: &[i64],
    valid_newest_first: &[i64],
    retain_count: usize,
) -> Selection {
    let retain = retain_count.max(MIN_RETAIN_COUNT);
    let Some(&oldest_kept) = valid_newest_first.iter().take(retain).next_back() else {
        return Selection::default();
    };
    // The newest segment starting at or below the snapshot holds the records right after it.
    let needed_from = segment_bases
        .iter()
        .copied()
        .filter(|base| *base <= oldest_kept)
        .max();
    Selection {
        oldest_kept: Some(oldest_kept),
        segments: segment_bases
            .iter()
            .copied()
            .filter(|base| needed_from.is_some_and(|needed| *base < needed))
            .collect(),
        snapshots: snapshots
            .iter()
            .copied()
            .filter(|zxid| *zxid < oldest_kept)
            .collect(),
    }
}

/// Keeps the `retain_count` (at least 3) newest valid snapshots and the log segments needed to replay
/// from the oldest of them; deletes older segments and snapshots. Does nothing without a valid
/// snapshot. Safe while the log is being appended to: the segment being written is always kept.
pub fn purge(log: &TxnLog, snapshots: &SnapshotStore, retain_count: usize) -> Result<PurgeReport> {
    let valid = snapshots.newest_valid(retain_count.max(MIN_RETAIN_COUNT))?;
    let snapshot_files = naming::list(snapshots.dir(), SNAPSHOT_PREFIX)
        .map_err(|e| LogError::io(format!("listing {}", snapshots.dir().display()), e))?;
    let segment_files = naming::list(log.dir(), LOG_PREFIX)
        .map_err(|e| LogError::io(format!("listing {}", log.dir().display()), e))?;
    let bases: Vec<i64> = segment_files.iter().map(|(z, _)| *z).collect();
    let snaps: Vec<i64> = snapshot_files.iter().map(|(z, _)| *z).collect();
    let selection = select(&bases, &snaps, &valid, retain_count);
    let mut report = PurgeReport {
        oldest_kept_snapshot: selection.oldest_kept,
        ..PurgeReport::default()
    };
    for (zxid, path) in &segment_files {
        if selection.segments.contains(zxid) {
            fsutil::remove_file(path)?;
            report.deleted_segments.push(path.clone());
        }
    }
    for (zxid, path) in &snapshot_files {
        if selection.snapshots.contains(zxid) {
            fsutil::remove_file(path)?;
            report.deleted_snapshots.push(path.clone());
        }
    }
    if !report.deleted_segments.is_empty() {
        fsutil::sync_dir(log.dir())?;
    }
    if !report.deleted_snapshots.is_empty() {
        fsutil::sync_dir(snapshots.dir())?;
    }
    if selection.oldest_kept.is_some() {
        tracing::info!(
            segments = report.deleted_segments.len(),
            snapshots = report.deleted_snapshots.len(),
            "purged old log segments and snapshots"
        );
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_segment_that_covers_the_oldest_kept_snapshot() {
        let segments = [1, 100, 200, 300, 400];
        let snapshots = [50, 150, 250, 350, 450];
        let valid = [450, 350, 250, 150, 50];
        let selection = select(&segments, &snapshots, &valid, 3);
        assert_eq!(selection.oldest_kept, Some(250));
        // Records 251.. start in log.200.
        assert_eq!(selection.segments, vec![1, 100]);
        assert_eq!(selection.snapshots, vec![50, 150]);
    }

    #[test]
    fn a_segment_starting_exactly_at_the_snapshot_is_the_one_kept() {
        let selection = select(&[1, 10, 20], &[10, 20, 30], &[30, 20, 10], 3);
        assert_eq!(selection.segments, vec![1]);
        assert!(selection.snapshots.is_empty());
    }

    #[test]
    fn retain_count_is_at_least_three() {
        let selection = select(&[1, 10, 20, 30], &[5, 15, 25, 35], &[35, 25, 15, 5], 1);
        assert_eq!(selection.oldest_kept, Some(15));
        assert_eq!(selection.segments, vec![1]);
        assert_eq!(selection.snapshots, vec![5]);
    }

    #[test]
    fn invalid_snapshots_do_not_count_but_old_ones_are_deleted() {
        // 40 and 30 are corrupt: the three valid ones are 20, 10, 5.
        let selection = select(&[1, 8, 15], &[5, 10, 20, 30, 40, 2], &[20, 10, 5], 3);
        assert_eq!(selection.oldest_kept, Some(5));
        assert_eq!(selection.segments, vec![]);
        assert_eq!(selection.snapshots, vec![2]);
    }

    #[test]
    fn nothing_is_deleted_without_a_valid_snapshot() {
        assert_eq!(select(&[1, 2, 3], &[1, 2], &[], 3), Selection::default());
    }

    #[test]
    fn no_segment_at_or_below_the_snapshot_keeps_every_segment() {
        let selection = select(&[100, 200], &[10, 20, 30], &[30, 20, 10], 3);
        assert!(selection.segments.is_empty());
    }
}
