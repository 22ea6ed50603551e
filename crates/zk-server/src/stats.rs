//! Counters for the four-letter words (`srvr`, `stat`, `mntr`, `cons`).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Server-wide counters; `srst` resets them.
#[derive(Debug)]
pub struct Stats {
    pub packets_received: AtomicU64,
    pub packets_sent: AtomicU64,
    pub commits: AtomicU64,
    latency: Latency,
    /// Sizes of the transactions a leader proposed (`mntr`'s proposal sizes).
    proposals: BufferSizes,
    /// Sizes of the frames sent to clients, without their length prefix (replies and
    /// notifications; ZooKeeper's client response sizes).
    responses: BufferSizes,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            packets_received: AtomicU64::new(0),
            packets_sent: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            latency: Latency::default(),
            proposals: BufferSizes::default(),
            responses: BufferSizes::default(),
        }
    }
}

impl Stats {
    pub fn record_commit(&self) {
        self.commits.fetch_add(1, Ordering::Relaxed);
    }

    pub fn received(&self) {
        self.packets_received.fetch_add(1, Ordering::Relaxed);
    }

    pub fn sent(&self, count: u64) {
        self.packets_sent.fetch_add(count, Ordering::Relaxed);
    }

    pub fn record_latency(&self, millis: i64) {
        self.latency.record(millis);
    }

    pub fn record_proposal(&self, bytes: usize) {
        self.proposals
            .record(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// (last, min, max) size of proposed transactions; -1 before the first.
    pub fn proposal_sizes(&self) -> (i64, i64, i64) {
        self.proposals.last_min_max()
    }

    pub fn record_response(&self, bytes: usize) {
        self.responses
            .record(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// (last, min, max) size of the frames sent to clients; -1 before the first.
    pub fn response_sizes(&self) -> (i64, i64, i64) {
        self.responses.last_min_max()
    }

    /// (min, avg, max) request latency in ms.
    pub fn latency(&self) -> (i64, f64, i64) {
        self.latency.snapshot()
    }

    pub fn reset(&self) {
        self.packets_received.store(0, Ordering::Relaxed);
        self.packets_sent.store(0, Ordering::Relaxed);
        self.latency.reset();
        self.responses.reset();
    }
}

/// Last, smallest and largest of a series of sizes (ZooKeeper's BufferStats: proposals and
/// client responses), recorded for every reply: once the extremes settle, a sample is one
/// store and two loads.
#[derive(Debug)]
struct BufferSizes {
    last: AtomicI64,
    min: AtomicI64,
    max: AtomicI64,
}

impl Default for BufferSizes {
    fn default() -> Self {
        BufferSizes {
            last: AtomicI64::new(-1),
            min: AtomicI64::new(i64::MAX),
            max: AtomicI64::new(-1),
        }
    }
}

impl BufferSizes {
    fn record(&self, size: i64) {
        self.last.store(size, Ordering::Relaxed);
        if size < self.min.load(Ordering::Relaxed) {
            self.min.fetch_min(size, Ordering::Relaxed);
        }
        if size > self.max.load(Ordering::Relaxed) {
            self.max.fetch_max(size, Ordering::Relaxed);
        }
    }

    /// (last, min, max); -1 each before the first sample.
    fn last_min_max(&self) -> (i64, i64, i64) {
        let max = self.max.load(Ordering::Relaxed);
        if max < 0 {
            return (-1, -1, -1);
        }
        (
            self.last.load(Ordering::Relaxed),
            self.min.load(Ordering::Relaxed),
            max,
        )
    }

    fn reset(&self) {
        self.last.store(-1, Ordering::Relaxed);
        self.min.store(i64::MAX, Ordering::Relaxed);
        self.max.store(-1, Ordering::Relaxed);
    }
}

/// Min/avg/max of request latencies, lock-free.
#[derive(Debug)]
pub struct Latency {
    last: AtomicI64,
    min: AtomicI64,
    max: AtomicI64,
    total: AtomicI64,
    count: AtomicI64,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            last: AtomicI64::new(0),
            min: AtomicI64::new(i64::MAX),
            max: AtomicI64::new(0),
            total: AtomicI64::new(0),
            count: AtomicI64::new(0),
        }
    }
}

impl Latency {
    pub fn record(&self, millis: i64) {
        self.last.store(millis, Ordering::Relaxed);
        self.min.fetch_min(millis, Ordering::Relaxed);
        self.max.fetch_max(millis, Ordering::Relaxed);
        self.total.fetch_add(millis, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// (min, avg, max); the average rounded to 4 decimals, as ZooKeeper's counters round it.
    pub fn snapshot(&self) -> (i64, f64, i64) {
        let count = self.count.load(Ordering::Relaxed);
        if count == 0 {
            return (0, 0.0, 0);
        }
        let total = self.total.load(Ordering::Relaxed);
        (
            self.min.load(Ordering::Relaxed),
            (total as f64 / count as f64 * 10_000.0).round() / 10_000.0,
            self.max.load(Ordering::Relaxed),
        )
    }

    /// The latest sample in ms.
    pub fn last(&self) -> i64 {
        self.last.load(Ordering::Relaxed)
    }

    pub fn reset(&self) {
        self.last.store(0, Ordering::Relaxed);
        self.min.store(i64::MAX, Ordering::Relaxed);
        self.max.store(0, Ordering::Relaxed);
        self.total.store(0, Ordering::Relaxed);
        self.count.store(0, Ordering::Relaxed);
    }
}

/// Per-connection counters for `cons`.
#[derive(Debug)]
pub struct ConnStats {
    pub received: AtomicU64,
    pub sent: AtomicU64,
    pub outstanding: AtomicU64,
    pub last_op: std::sync::Mutex<&'static str>,
    /// Last client xid of an ordinary request (-1 until there is one).
    pub last_cxid: AtomicI64,
    pub last_zxid: AtomicI64,
    /// When the last response went out, on the server's monotonic clock (ms).
    pub last_response_ms: AtomicU64,
    /// Wall-clock ms when the connection was accepted.
    pub established_ms: i64,
    pub latency: Latency,
}

impl ConnStats {
    pub fn new(established_ms: i64) -> Self {
        ConnStats {
            received: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            outstanding: AtomicU64::new(0),
            last_op: std::sync::Mutex::new("NA"),
            last_cxid: AtomicI64::new(-1),
            last_zxid: AtomicI64::new(0),
            last_response_ms: AtomicU64::new(0),
            established_ms,
            latency: Latency::default(),
        }
    }

    /// Records the op of a request; pings, auth and setWatches (negative xids) keep the last cxid.
    pub fn note_request(&self, op: &'static str, xid: i32) {
        if let Ok(mut last) = self.last_op.lock() {
            *last = op;
        }
        if xid >= 0 {
            self.last_cxid.store(i64::from(xid), Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_keep_last_min_and_max_until_reset() {
        let sizes = BufferSizes::default();
        assert_eq!(sizes.last_min_max(), (-1, -1, -1));
        for size in [84, 16, 25] {
            sizes.record(size);
        }
        assert_eq!(sizes.last_min_max(), (25, 16, 84));
        sizes.reset();
        assert_eq!(sizes.last_min_max(), (-1, -1, -1));
        sizes.record(0);
        assert_eq!(sizes.last_min_max(), (0, 0, 0));
    }
}
