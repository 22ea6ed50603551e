//! Counters for the four-letter words (`srvr`, `stat`, `mntr`, `cons`).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Server-wide counters; `srst` resets them.
#[derive(Debug)]
pub struct Stats {
    pub packets_received: AtomicU64,
    pub packets_sent: AtomicU64,
    pub commits: AtomicU64,
    /// Bytes of the packets received, length prefixes included (`bytes_received_count`).
    pub bytes_received: AtomicU64,
    /// Connect requests received, and connections refused for `maxClientCnxns`.
    pub connections_requested: AtomicU64,
    pub connections_rejected: AtomicU64,
    /// Connections closed for sending no connect request in time, and sessions expired.
    pub sessionless_connections_expired: AtomicU64,
    pub sessions_expired: AtomicU64,
    /// Transactions after which the tree's digest was not the one they were prepared to leave
    /// (`digest_mismatches_count`).
    pub digest_mismatches: AtomicU64,
    /// TLS: handshakes under way, and those that failed (a refused client certificate among
    /// them); plain connections from other hosts and from this one. `srst` leaves these, as
    /// ZooKeeper's ServerStats.reset does.
    pub tls_handshakes: AtomicI64,
    pub auth_failed: AtomicU64,
    pub non_mtls_remote_connections: AtomicU64,
    pub non_mtls_local_connections: AtomicU64,
    /// Round trips of reads and of writes, in ms (`readlatency`, `updatelatency`).
    pub read_latency: Percentiles,
    pub update_latency: Percentiles,
    /// How long snapshots took, and loading the database at start-up, in ms.
    pub snapshot_time: Percentiles,
    pub db_init_time: Percentiles,
    /// Each load of the database (start-up, and a learner's after TRUNC): its snapshot's load
    /// time, and the logged transactions replayed after it and the time they took.
    startup_snap_load_time: zk_txnlog::Series,
    startup_txns_loaded: zk_txnlog::Series,
    startup_txns_load_time: zk_txnlog::Series,
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
            bytes_received: AtomicU64::new(0),
            connections_requested: AtomicU64::new(0),
            connections_rejected: AtomicU64::new(0),
            sessionless_connections_expired: AtomicU64::new(0),
            sessions_expired: AtomicU64::new(0),
            digest_mismatches: AtomicU64::new(0),
            tls_handshakes: AtomicI64::new(0),
            auth_failed: AtomicU64::new(0),
            non_mtls_remote_connections: AtomicU64::new(0),
            non_mtls_local_connections: AtomicU64::new(0),
            read_latency: Percentiles::default(),
            update_latency: Percentiles::default(),
            snapshot_time: Percentiles::default(),
            db_init_time: Percentiles::default(),
            startup_snap_load_time: zk_txnlog::Series::default(),
            startup_txns_loaded: zk_txnlog::Series::default(),
            startup_txns_load_time: zk_txnlog::Series::default(),
            latency: Latency::default(),
            proposals: BufferSizes::default(),
            responses: BufferSizes::default(),
        }
    }
}

impl Stats {
    /// A plain (not TLS) connection from `remote` was accepted.
    pub fn record_plain_connection(&self, remote: std::net::IpAddr) {
        let counter = if remote.is_loopback() {
            &self.non_mtls_local_connections
        } else {
            &self.non_mtls_remote_connections
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_commit(&self) {
        self.commits.fetch_add(1, Ordering::Relaxed);
    }

    /// A packet of `bytes` (its length prefix included) came in.
    pub fn received(&self, bytes: usize) {
        self.packets_received.fetch_add(1, Ordering::Relaxed);
        self.bytes_received
            .fetch_add(bytes as u64, Ordering::Relaxed);
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

    /// `srst`: ZooKeeper's ServerStats reset, which also resets every ServerMetrics figure.
    pub fn reset(&self) {
        for counter in [
            &self.packets_received,
            &self.packets_sent,
            &self.bytes_received,
            &self.connections_requested,
            &self.connections_rejected,
            &self.sessionless_connections_expired,
            &self.sessions_expired,
            &self.digest_mismatches,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
        for series in [
            &self.read_latency,
            &self.update_latency,
            &self.snapshot_time,
            &self.db_init_time,
        ] {
            series.reset();
        }
        for series in [
            &self.startup_snap_load_time,
            &self.startup_txns_loaded,
            &self.startup_txns_load_time,
        ] {
            series.reset();
        }
        self.latency.reset();
        self.responses.reset();
    }

    /// Counts one load of the database.
    pub fn record_recovery(&self, recovery: &crate::storage::Recovery) {
        self.startup_snap_load_time.record(recovery.snapshot_ms);
        self.startup_txns_loaded.record(recovery.replayed);
        self.startup_txns_load_time.record(recovery.replay_ms);
    }

    /// (snapshot load time, transactions replayed, their replay time) over the database's loads.
    pub fn recoveries(&self) -> [zk_txnlog::Summary; 3] {
        [
            self.startup_snap_load_time.summary(),
            self.startup_txns_loaded.summary(),
            self.startup_txns_load_time.summary(),
        ]
    }
}

/// A series of millisecond values as ZooKeeper's AvgMinMaxPercentileCounter reports it: count,
/// sum, min, max and percentiles. Every value up to [`Percentiles::EXACT_MS`] has its own
/// counter, so percentiles are exact to the millisecond there (ZooKeeper samples a reservoir);
/// larger values share the last counter and read as the largest seen.
#[derive(Debug)]
pub struct Percentiles {
    series: zk_txnlog::Series,
    counts: Box<[AtomicU64]>,
}

impl Default for Percentiles {
    fn default() -> Self {
        Percentiles {
            series: zk_txnlog::Series::default(),
            counts: (0..=Self::EXACT_MS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Percentiles {
    pub const EXACT_MS: usize = 1023;

    pub fn record(&self, millis: u64) {
        self.series.record(millis);
        let bucket = usize::try_from(millis).map_or(Self::EXACT_MS, |m| m.min(Self::EXACT_MS));
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_since(&self, started: std::time::Instant) {
        self.record(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
    }

    /// Count, sum, min and max (0 before the first value).
    pub fn summary(&self) -> zk_txnlog::Summary {
        self.series.summary()
    }

    pub fn reset(&self) {
        self.series.reset();
        for counter in self.counts.iter() {
            counter.store(0, Ordering::Relaxed);
        }
    }

    /// The value at fraction `q` of the sorted series (0 before the first value).
    pub fn quantile(&self, q: f64) -> u64 {
        let total: u64 = self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        if total == 0 {
            return 0;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (millis, counter) in self.counts.iter().enumerate() {
            seen += counter.load(Ordering::Relaxed);
            if seen >= rank {
                return if millis == Self::EXACT_MS {
                    self.series.summary().max
                } else {
                    millis as u64
                };
            }
        }
        self.series.summary().max
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
    /// Set while the connection answers a four-letter word: ZooKeeper has stopped reading it
    /// then, so `cons` shows its interest ops as 0 instead of 1 (reading).
    pub answering_word: std::sync::atomic::AtomicBool,
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
            answering_word: std::sync::atomic::AtomicBool::new(false),
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

    #[test]
    fn percentiles_are_exact_to_the_millisecond() {
        let series = Percentiles::default();
        assert_eq!((series.quantile(0.5), series.summary().min), (0, 0));
        for millis in 1..=100 {
            series.record(millis);
        }
        assert_eq!(series.quantile(0.5), 50);
        assert_eq!(series.quantile(0.95), 95);
        assert_eq!(series.quantile(0.999), 100);
        let summary = series.summary();
        assert_eq!(
            (summary.count, summary.sum, summary.min, summary.max),
            (100, 5050, 1, 100)
        );
        series.record(5_000);
        assert_eq!(series.quantile(1.0), 5_000);
        series.reset();
        assert_eq!((series.quantile(0.5), series.summary().count), (0, 0));
    }
}
