//! What the server reports about itself, gathered once for both of its renderings: the
//! four-letter words' text ([`crate::fourlw`]) and the AdminServer's JSON ([`crate::admin`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use crate::json::Json;
use crate::server::{ConnHandle, Shared};
use crate::stats::Percentiles;

/// The version we report: ZooKeeper's release whose behaviour we follow, then our own.
pub const VERSION: &str = concat!(
    "3.9.3-zkrs-",
    env!("CARGO_PKG_VERSION"),
    ", built on 2026-11-28 00:00 UTC"
);

/// `mntr`'s entries in order, without the `zk_` prefix: numbers as numbers, names as text.
pub fn monitor(shared: &Shared) -> Vec<(&'static str, Json)> {
    let data_size = shared.db.approximate_data_size();
    let (node_count, ephemeral_count) = {
        let tree = shared.db.tree();
        (tree.node_count(), tree.ephemeral_count())
    };
    let (min, avg, max) = shared.stats.latency();
    let watch_count = shared.db.watches().watch_count();
    let mut out: Vec<(&'static str, Json)> = vec![
        ("version", VERSION.into()),
        ("server_state", shared.mode().unwrap_or("looking").into()),
    ];
    let status = shared.peer.get().map(|status| *status.borrow());
    if let Some(status) = status {
        out.push(("peer_state", peer_state(shared, status.role).into()));
        if status.role == zk_peer::Role::Observing
            && let Some(leader) = status.leader
        {
            out.push(("observer_master_id", leader.into()));
        }
    }
    out.extend([
        ("avg_latency", avg.into()),
        ("max_latency", max.into()),
        ("min_latency", min.into()),
        (
            "packets_received",
            shared.stats.packets_received.load(Ordering::Relaxed).into(),
        ),
        (
            "packets_sent",
            shared.stats.packets_sent.load(Ordering::Relaxed).into(),
        ),
        ("num_alive_connections", shared.conns().len().into()),
        (
            "outstanding_requests",
            shared.in_flight.load(Ordering::Relaxed).into(),
        ),
        ("uptime", millis(shared.uptime())),
        ("znode_count", (node_count + 1).into()),
        ("watch_count", watch_count.into()),
        ("ephemerals_count", ephemeral_count.into()),
        ("approximate_data_size", data_size.into()),
        ("global_sessions", shared.sessions().len().into()),
        ("local_sessions", 0i64.into()),
        ("open_file_descriptor_count", open_fds().into()),
        ("max_file_descriptor_count", max_fds().into()),
    ]);
    let (last, min, max) = shared.stats.response_sizes();
    out.extend([
        ("last_client_response_size", last.into()),
        ("max_client_response_size", max.into()),
        ("min_client_response_size", min.into()),
    ]);
    let stats = &shared.stats;
    let count =
        |counter: &std::sync::atomic::AtomicU64| Json::from(counter.load(Ordering::Relaxed));
    out.extend([
        (
            "outstanding_tls_handshake",
            stats.tls_handshakes.load(Ordering::Relaxed).into(),
        ),
        ("auth_failed_count", count(&stats.auth_failed)),
        (
            "non_mtls_remote_conn_count",
            count(&stats.non_mtls_remote_connections),
        ),
        (
            "non_mtls_local_conn_count",
            count(&stats.non_mtls_local_connections),
        ),
    ]);
    let syncs = shared.storage.log.sync_stats();
    out.push(("fsync_threshold_exceed_count", syncs.slow_syncs().into()));
    summary(&mut out, summary_keys!("fsynctime"), syncs.sync_ms());
    summary(
        &mut out,
        summary_keys!("sync_processor_batch_size"),
        syncs.batch_records(),
    );
    out.extend([
        ("bytes_received_count", count(&stats.bytes_received)),
        (
            "connection_request_count",
            count(&stats.connections_requested),
        ),
        ("connection_rejected", count(&stats.connections_rejected)),
        (
            "sessionless_connections_expired",
            count(&stats.sessionless_connections_expired),
        ),
        ("stale_sessions_expired", count(&stats.sessions_expired)),
        ("digest_mismatches_count", count(&stats.digest_mismatches)),
    ]);
    // The peer's counters; a standalone server reports them as zeros, as ZooKeeper does.
    let elections = shared.peer_metrics.get();
    let standalone = zk_peer::PeerMetrics::default();
    for (key, counter) in elections.map_or(&standalone, |m| m.as_ref()).counters() {
        out.push((key, counter.load(Ordering::Relaxed).into()));
    }
    summary(
        &mut out,
        summary_keys!("election_time"),
        elections
            .map(|m| m.election_time.summary())
            .unwrap_or_default(),
    );
    summary(
        &mut out,
        summary_keys!("snapshottime"),
        stats.snapshot_time.summary(),
    );
    summary(
        &mut out,
        summary_keys!("dbinittime"),
        stats.db_init_time.summary(),
    );
    let [snap_load, txns_loaded, txns_load] = stats.recoveries();
    summary(&mut out, summary_keys!("startup_snap_load_time"), snap_load);
    summary(&mut out, summary_keys!("startup_txns_loaded"), txns_loaded);
    summary(&mut out, summary_keys!("startup_txns_load_time"), txns_load);
    percentiles(
        &mut out,
        summary_keys!("readlatency"),
        summary_keys!("readlatency", percentiles),
        &stats.read_latency,
    );
    percentiles(
        &mut out,
        summary_keys!("updatelatency"),
        summary_keys!("updatelatency", percentiles),
        &stats.update_latency,
    );
    if let Some(status) = status {
        // The voters of the configuration in force, which a reconfig may have changed.
        let voters = membership(shared)
            .iter()
            .filter(|spec| spec.learner_type == zk_peer::LearnerType::Participant)
            .count();
        out.push(("quorum_size", voters.into()));
        // Only the leader reports learners: a follower would report synced observers only as
        // an observer master, which this server is not (ZooKeeper leaves the null gauge out).
        if status.role == zk_peer::Role::Leading {
            let observers = status.learners.saturating_sub(status.followers);
            let pending_syncs = match shared.write_path().1 {
                crate::server::WritePath::Leader { proposer, .. } => proposer.pending_syncs(),
                _ => 0,
            };
            let (last, min, max) = shared.stats.proposal_sizes();
            out.extend([
                ("learners", status.learners.into()),
                ("synced_followers", status.followers.into()),
                (
                    "synced_non_voting_followers",
                    status.non_voting_followers.into(),
                ),
                ("synced_observers", observers.into()),
                ("pending_syncs", pending_syncs.into()),
                (
                    "leader_uptime",
                    millis(shared.serving_for().unwrap_or_default()),
                ),
                ("last_proposal_size", last.into()),
                ("max_proposal_size", max.into()),
                ("min_proposal_size", min.into()),
            ]);
        }
    }
    out
}

/// The mntr keys of a ZooKeeper summary named `$name`: avg, min, max, cnt, sum, then the
/// percentiles p50, p95, p99, p999.
macro_rules! summary_keys {
    ($name:literal) => {
        [
            concat!("avg_", $name),
            concat!("min_", $name),
            concat!("max_", $name),
            concat!("cnt_", $name),
            concat!("sum_", $name),
        ]
    };
    ($name:literal, percentiles) => {
        [
            concat!("p50_", $name),
            concat!("p95_", $name),
            concat!("p99_", $name),
            concat!("p999_", $name),
        ]
    };
}
use summary_keys;

/// A ZooKeeper "advanced summary" (AvgMinMaxPercentileCounter) as mntr lists it: the basic
/// summary, then the 50th, 95th, 99th and 99.9th percentiles.
fn percentiles(
    out: &mut Vec<(&'static str, Json)>,
    keys: [&'static str; 5],
    quantile_keys: [&'static str; 4],
    series: &Percentiles,
) {
    summary(out, keys, series.summary());
    for (key, q) in quantile_keys.into_iter().zip([0.5, 0.95, 0.99, 0.999]) {
        out.push((key, series.quantile(q).into()));
    }
}

/// A ZooKeeper "basic summary" as mntr lists it: avg, min, max, cnt, sum.
fn summary(
    out: &mut Vec<(&'static str, Json)>,
    keys: [&'static str; 5],
    values: zk_txnlog::Summary,
) {
    let [avg, min, max, cnt, sum] = keys;
    out.extend([
        (avg, values.avg().into()),
        (min, values.min.into()),
        (max, values.max.into()),
        (cnt, values.count.into()),
        (sum, values.sum.into()),
    ]);
}

fn millis(duration: std::time::Duration) -> Json {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .into()
}

/// `zk_peer_state`: the role, and the ZAB phase once it serves.
fn peer_state(shared: &Shared, role: zk_peer::Role) -> &'static str {
    let serving = shared.serving();
    match role {
        zk_peer::Role::Looking => "looking",
        zk_peer::Role::Leading if serving => "leading - broadcast",
        zk_peer::Role::Leading => "leading - synchronization",
        zk_peer::Role::Following if serving => "following - broadcast",
        zk_peer::Role::Following => "following - synchronization",
        zk_peer::Role::Observing if serving => "observing - broadcast",
        zk_peer::Role::Observing => "observing - synchronization",
    }
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

fn max_fds() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// One client connection as `cons` and `stat` show it.
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    pub remote: std::net::SocketAddr,
    /// ZooKeeper's interest ops: 1 (reading), or 0 while answering a four-letter word.
    pub interest_ops: i64,
    /// Came through the TLS client port.
    pub secure: bool,
    pub outstanding: u64,
    pub received: u64,
    pub sent: u64,
    /// 0 until the handshake bound a session.
    pub session: i64,
    pub last_op: &'static str,
    /// Wall-clock ms.
    pub established_ms: i64,
    pub timeout: u32,
    /// -1 until an ordinary request came.
    pub last_cxid: i64,
    pub last_zxid: i64,
    /// On the server's monotonic clock (ms).
    pub last_response_ms: u64,
    pub last_latency: i64,
    pub min_latency: i64,
    pub avg_latency: f64,
    pub max_latency: i64,
}

/// Every open client connection.
pub fn connections(shared: &Shared) -> Vec<Connection> {
    let handles: Vec<ConnHandle> = shared.conns().values().cloned().collect();
    let sessions = shared.sessions();
    handles
        .iter()
        .map(|handle| {
            let stats = &handle.stats;
            let session = handle.session_id.load(Ordering::Relaxed);
            let (min_latency, avg_latency, max_latency) = stats.latency.snapshot();
            Connection {
                remote: handle.remote,
                interest_ops: if stats.answering_word.load(Ordering::Relaxed) {
                    0
                } else {
                    1
                },
                secure: handle.secure,
                outstanding: stats.outstanding.load(Ordering::Relaxed),
                received: stats.received.load(Ordering::Relaxed),
                sent: stats.sent.load(Ordering::Relaxed),
                session,
                last_op: stats.last_op.lock().map(|op| *op).unwrap_or("NA"),
                established_ms: stats.established_ms,
                timeout: sessions.timeout_of(session).unwrap_or(0),
                last_cxid: stats.last_cxid.load(Ordering::Relaxed),
                last_zxid: stats.last_zxid.load(Ordering::Relaxed),
                last_response_ms: stats.last_response_ms.load(Ordering::Relaxed),
                last_latency: stats.latency.last(),
                min_latency,
                avg_latency,
                max_latency,
            }
        })
        .collect()
}

/// Resets the server's counters (`srst`): packets, latencies, response sizes, and the log's
/// sync summaries.
pub fn reset_server_stats(shared: &Shared) {
    shared.stats.reset();
    if let Some(elections) = shared.peer_metrics.get() {
        elections.reset();
    }
    shared.storage.log.sync_stats().reset_summaries();
}

/// Zeroes every connection's counters (`crst`).
pub fn reset_connection_stats(shared: &Shared) {
    for handle in shared.conns().values() {
        handle.stats.received.store(0, Ordering::Relaxed);
        handle.stats.sent.store(0, Ordering::Relaxed);
        handle.stats.latency.reset();
    }
}

/// `envi`'s entries: ZooKeeper's keys, `<NA>` where a JVM fact has no equivalent.
pub fn environment() -> Vec<(&'static str, String)> {
    let na = || "<NA>".to_owned();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| na());
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|_| na());
    vec![
        ("zookeeper.version", VERSION.to_owned()),
        ("host.name", host),
        ("java.version", na()),
        ("java.vendor", na()),
        ("java.home", na()),
        ("java.class.path", na()),
        ("java.library.path", na()),
        ("java.io.tmpdir", std::env::temp_dir().display().to_string()),
        ("java.compiler", na()),
        ("os.name", std::env::consts::OS.to_owned()),
        ("os.arch", std::env::consts::ARCH.to_owned()),
        ("os.version", na()),
        ("user.name", std::env::var("USER").unwrap_or_else(|_| na())),
        ("user.home", std::env::var("HOME").unwrap_or_else(|_| na())),
        ("user.dir", cwd),
        ("os.memory.free", na()),
        ("os.memory.max", na()),
        ("os.memory.total", na()),
    ]
}

/// Bytes in the snapshot and log directories.
pub fn dir_sizes(shared: &Shared) -> (u64, u64) {
    let size = |dir: &std::path::Path| -> u64 {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|e| e.metadata().ok())
                    .filter(|m| m.is_file())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    };
    (
        size(shared.storage.snapshot_dir()),
        size(shared.storage.log_dir()),
    )
}

/// A follower or observer: its sessions expire at the leader, so it has no expiry times.
pub fn tracks_no_expiry(shared: &Shared) -> bool {
    matches!(shared.mode(), Some("follower" | "observer"))
}

/// The database's sessions in ascending order, with their timeouts (ms).
pub fn sessions(shared: &Shared) -> Vec<(i64, i32)> {
    sorted_sessions(&shared.db.tree())
}

fn sorted_sessions(tree: &crate::tree::DataTree) -> Vec<(i64, i32)> {
    let mut sessions: Vec<(i64, i32)> = tree.sessions().collect();
    sessions.sort_unstable();
    sessions
}

/// The sessions holding ephemeral nodes, ascending, with their paths (`dump`).
pub fn ephemerals_by_session(shared: &Shared) -> Vec<(i64, Vec<String>)> {
    let tree = shared.db.tree();
    sorted_sessions(&tree)
        .into_iter()
        .filter_map(|(session, _)| {
            let paths = tree.ephemerals_of(session);
            (!paths.is_empty()).then(|| (session, paths.iter().map(|p| p.to_string()).collect()))
        })
        .collect()
}

/// Connections grouped by when they would time out idle, as ZooKeeper's NIOServerCnxnFactory
/// dumps its expiry queue: the last response (or the accept) plus the session's timeout (the
/// sessionless timeout before a session), rounded up to the next multiple of that sessionless
/// timeout. Deadlines are on the server's monotonic clock, ascending; members are (remote
/// address, session), sorted.
pub fn connection_sets(shared: &Shared) -> Vec<(u64, Vec<(SocketAddr, i64)>)> {
    let (now_mono, now_wall) = (shared.now_ms(), crate::pipeline::wall_clock_ms());
    let mut sets: BTreeMap<u64, Vec<(SocketAddr, i64)>> = BTreeMap::new();
    for connection in connections(shared) {
        let accepted = now_mono.saturating_sub(
            u64::try_from(now_wall.saturating_sub(connection.established_ms)).unwrap_or(0),
        );
        let last_activity = connection.last_response_ms.max(accepted);
        let timeout = match connection.timeout {
            0 => SESSIONLESS_MS,
            timeout => u64::from(timeout),
        };
        sets.entry(connection_deadline(last_activity, timeout))
            .or_default()
            .push((connection.remote, connection.session));
    }
    sets.into_iter()
        .map(|(deadline, mut members)| {
            members.sort_unstable();
            (deadline, members)
        })
        .collect()
}

/// The width of ZooKeeper's connection expiry buckets: its sessionless connection timeout.
const SESSIONLESS_MS: u64 = crate::conn::SESSIONLESS_TIMEOUT_MS;

/// ExpiryQueue's `roundToNextInterval`: the bucket after the one `last_activity + timeout` is in.
fn connection_deadline(last_activity: u64, timeout: u64) -> u64 {
    ((last_activity + timeout) / SESSIONLESS_MS + 1) * SESSIONLESS_MS
}

/// The session a connection serves (0 for none or a closed connection).
fn session_of(shared: &Shared, conn: u64) -> i64 {
    shared
        .conns()
        .get(&conn)
        .map(|h| h.session_id.load(Ordering::Relaxed))
        .unwrap_or(0)
}

/// The data watches of each watching connection's session, with their paths (`wchc`).
pub fn watches_by_session(shared: &Shared) -> Vec<(i64, Vec<String>)> {
    let by_conn = shared.db.watches().data_watches_by_connection();
    by_conn
        .into_iter()
        .map(|(conn, paths)| (session_of(shared, conn), paths))
        .collect()
}

/// Each watched path with the sessions watching it (`wchp`).
pub fn watches_by_path(shared: &Shared) -> Vec<(String, Vec<i64>)> {
    let by_path = shared.db.watches().data_watches_by_path();
    by_path
        .into_iter()
        .map(|(path, conns)| {
            let sessions = conns.into_iter().map(|c| session_of(shared, c)).collect();
            (path, sessions)
        })
        .collect()
}

/// (watching connections, watched paths, data watches) for `wchs`.
pub fn watch_summary(shared: &Shared) -> (usize, usize, usize) {
    let watches = shared.db.watches();
    let by_conn = watches.data_watches_by_connection();
    let total = by_conn.iter().map(|(_, paths)| paths.len()).sum();
    (by_conn.len(), watches.data_watches_by_path().len(), total)
}

/// The configuration the ensemble runs: `/zookeeper/config`'s text (empty when standalone).
pub fn config_text(shared: &Shared) -> String {
    shared
        .db
        .tree()
        .get(crate::tree::CONFIG_PATH)
        .and_then(|node| {
            node.data()
                .map(|data| String::from_utf8_lossy(data).into_owned())
        })
        .unwrap_or_default()
}

/// The servers of [`config_text`].
pub fn membership(shared: &Shared) -> Vec<zk_peer::ServerSpec> {
    zk_peer::membership_servers(config_text(shared).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::connection_deadline;

    #[test]
    fn connection_deadlines_round_up_to_the_next_ten_seconds() {
        assert_eq!(connection_deadline(0, 10_000), 20_000);
        assert_eq!(connection_deadline(1, 10_000), 20_000);
        assert_eq!(connection_deadline(9_999, 30_000), 40_000);
        assert_eq!(connection_deadline(10_000, 4_000), 20_000);
    }
}
