//! What the writer's group commits cost, for monitoring: how long each `fdatasync` took, how
//! many records each batch carried, and how many syncs were slower than the warning threshold
//! (ZooKeeper's `fsynctime`, `sync_processor_batch_size` and `fsync_threshold_exceed_count`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Count, sum, minimum and maximum of a series of samples (ZooKeeper's "basic summary").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    pub count: u64,
    pub sum: u64,
    /// 0 before the first sample.
    pub min: u64,
    pub max: u64,
}

impl Summary {
    /// The mean, rounded to 4 decimals as ZooKeeper's counters round it; 0 before the first.
    pub fn avg(&self) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        (self.sum as f64 / self.count as f64 * 10_000.0).round() / 10_000.0
    }
}

/// A [`Summary`] that one thread records into while others read it.
#[derive(Debug)]
pub struct Series {
    count: AtomicU64,
    sum: AtomicU64,
    min: AtomicU64,
    max: AtomicU64,
}

impl Default for Series {
    fn default() -> Self {
        Series {
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            min: AtomicU64::new(u64::MAX),
            max: AtomicU64::new(0),
        }
    }
}

impl Series {
    pub fn record(&self, value: u64) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(value, Ordering::Relaxed);
        // Once the extremes settle, a value is two loads here instead of two locked updates:
        // servers record one per request.
        if value < self.min.load(Ordering::Relaxed) {
            self.min.fetch_min(value, Ordering::Relaxed);
        }
        if value > self.max.load(Ordering::Relaxed) {
            self.max.fetch_max(value, Ordering::Relaxed);
        }
    }

    pub fn reset(&self) {
        self.count.store(0, Ordering::Relaxed);
        self.sum.store(0, Ordering::Relaxed);
        self.min.store(u64::MAX, Ordering::Relaxed);
        self.max.store(0, Ordering::Relaxed);
    }

    pub fn summary(&self) -> Summary {
        let count = self.count.load(Ordering::Relaxed);
        Summary {
            count,
            sum: self.sum.load(Ordering::Relaxed),
            min: if count == 0 {
                0
            } else {
                self.min.load(Ordering::Relaxed)
            },
            max: self.max.load(Ordering::Relaxed),
        }
    }
}

/// The log writer's group-commit statistics, shared with [`crate::TxnLog::sync_stats`].
#[derive(Debug, Default)]
pub struct SyncStats {
    sync_ms: Series,
    batch_records: Series,
    slow_syncs: AtomicU64,
}

impl SyncStats {
    /// Records one group commit of `records` records whose sync took `elapsed`; true when that
    /// was slower than `threshold`.
    pub(crate) fn record(&self, elapsed: Duration, records: usize, threshold: Duration) -> bool {
        self.sync_ms
            .record(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX));
        self.batch_records
            .record(u64::try_from(records).unwrap_or(u64::MAX));
        let slow = elapsed > threshold;
        if slow {
            self.slow_syncs.fetch_add(1, Ordering::Relaxed);
        }
        slow
    }

    /// Milliseconds per `fdatasync`.
    pub fn sync_ms(&self) -> Summary {
        self.sync_ms.summary()
    }

    /// Records per group commit.
    pub fn batch_records(&self) -> Summary {
        self.batch_records.summary()
    }

    /// Syncs slower than the warning threshold.
    pub fn slow_syncs(&self) -> u64 {
        self.slow_syncs.load(Ordering::Relaxed)
    }

    /// Starts the sync-time and batch-size summaries afresh (ZooKeeper's `srst` resets its
    /// metrics). The slow-sync count stays, as ZooKeeper's does.
    pub fn reset_summaries(&self) {
        self.sync_ms.reset();
        self.batch_records.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_count_and_flag_slow_syncs() {
        let stats = SyncStats::default();
        assert_eq!(stats.sync_ms(), Summary::default());
        assert_eq!(stats.sync_ms().avg(), 0.0);
        let threshold = Duration::from_millis(1000);
        assert!(!stats.record(Duration::from_micros(150), 3, threshold));
        assert!(stats.record(Duration::from_millis(1500), 1, threshold));
        assert!(!stats.record(Duration::from_millis(1000), 8, threshold));
        assert_eq!(
            stats.sync_ms(),
            Summary {
                count: 3,
                sum: 2500,
                min: 0,
                max: 1500
            }
        );
        assert_eq!(
            stats.batch_records(),
            Summary {
                count: 3,
                sum: 12,
                min: 1,
                max: 8
            }
        );
        assert_eq!(stats.batch_records().avg(), 4.0);
        assert_eq!(
            Summary {
                count: 3,
                sum: 10,
                min: 1,
                max: 5
            }
            .avg(),
            3.3333
        );
        assert_eq!(stats.slow_syncs(), 1);
        stats.reset_summaries();
        assert_eq!(stats.sync_ms(), Summary::default());
        assert_eq!(stats.batch_records(), Summary::default());
        assert_eq!(stats.slow_syncs(), 1);
    }
}
