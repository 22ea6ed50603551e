//! Four-letter words over the client port (admin-and-4lw §1), in ZooKeeper's text formats,
//! since monitoring tools parse them.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use zk_proto::FourLetterWord;

use crate::server::Shared;

/// The version we report: ZooKeeper's release whose behaviour we follow, then our own.
pub const VERSION: &str = concat!(
    "3.9.3-zkrs-",
    env!("CARGO_PKG_VERSION"),
    ", built on 2026-11-28 00:00 UTC"
);

/// What most words answer while the server has no role (an ensemble member looking for a leader).
const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests\n";

/// The text a four-letter word answers (sent in one write, then the connection closes).
/// `argument` is the 8-byte value that follows `stmk`, if any.
pub fn answer(shared: &Shared, word: FourLetterWord, argument: Option<i64>) -> String {
    let name = word.name();
    // Every known word counts as a packet received, allowed or not, as in ZooKeeper; its
    // answer counts as one sent once written.
    shared.stats.received();
    // srvr is always allowed: `zkServer.sh status` depends on it.
    if word != FourLetterWord::Srvr && !shared.config.four_letter_word_allowed(name) {
        return format!("{name} is not executed because it is not in the whitelist.\n");
    }
    let mode = shared.mode();
    if mode.is_none() {
        match word {
            FourLetterWord::Ruok
            | FourLetterWord::Envi
            | FourLetterWord::Gtmk
            | FourLetterWord::Stmk => {}
            FourLetterWord::Isro => return "null".into(),
            FourLetterWord::Hash => return NOT_SERVING.trim_end().into(),
            _ => return NOT_SERVING.into(),
        }
    }
    match word {
        FourLetterWord::Ruok => "imok".into(),
        FourLetterWord::Isro if shared.is_read_only() => "ro".into(),
        FourLetterWord::Isro => "rw".into(),
        FourLetterWord::Srvr => server_summary(shared, false),
        FourLetterWord::Stat => server_summary(shared, true),
        FourLetterWord::Cons => connections(shared, true) + "\n",
        FourLetterWord::Conf => conf(shared),
        FourLetterWord::Envi => environment(),
        FourLetterWord::Mntr => monitor(shared),
        FourLetterWord::Wchs => watch_summary(shared),
        FourLetterWord::Wchc => watches_by_connection(shared),
        FourLetterWord::Wchp => watches_by_path(shared),
        FourLetterWord::Dump => dump(shared),
        FourLetterWord::Dirs => {
            let (data, log) = dir_sizes(shared);
            format!("datadir_size: {data}\nlogdir_size: {log}\n")
        }
        FourLetterWord::Srst => {
            shared.stats.reset();
            "Server stats reset.\n".into()
        }
        FourLetterWord::Crst => {
            for handle in shared.conns().values() {
                handle.stats.received.store(0, Ordering::Relaxed);
                handle.stats.sent.store(0, Ordering::Relaxed);
                handle.stats.latency.reset();
            }
            "Connection stats reset.\n".into()
        }
        FourLetterWord::Gtmk => shared.trace_mask.load(Ordering::Relaxed).to_string(),
        FourLetterWord::Stmk => {
            if let Some(mask) = argument {
                shared.trace_mask.store(mask, Ordering::Relaxed);
            }
            shared.trace_mask.load(Ordering::Relaxed).to_string()
        }
        FourLetterWord::Hash | FourLetterWord::TelnetClose => String::new(),
    }
}

/// Java's `Double.toString` for the small non-negative values latency averages take.
fn java_double(value: f64) -> String {
    let rounded = (value * 10_000.0).round() / 10_000.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.1}")
    } else {
        format!("{rounded}")
    }
}

fn server_summary(shared: &Shared, with_clients: bool) -> String {
    let node_count = shared.db.tree().node_count();
    let (min, avg, max) = shared.stats.latency();
    let mut out = format!("Zookeeper version: {VERSION}\n");
    if shared.is_read_only() {
        out.push_str("READ-ONLY mode; serving only read-only clients\n");
    }
    if with_clients {
        out.push_str("Clients:\n");
        out.push_str(&connections(shared, false));
        out.push('\n');
    }
    let _ = write!(
        out,
        "Latency min/avg/max: {min}/{}/{max}\nReceived: {}\nSent: {}\nConnections: {}\n\
         Outstanding: {}\nZxid: 0x{:x}\nMode: {}\nNode count: {}\n",
        java_double(avg),
        shared.stats.packets_received.load(Ordering::Relaxed),
        shared.stats.packets_sent.load(Ordering::Relaxed),
        shared.conns().len(),
        shared.in_flight.load(Ordering::Relaxed),
        shared.db.last_zxid(),
        shared.mode().unwrap_or("looking"),
        node_count + 1,
    );
    if shared.mode() == Some("leader") {
        let (last, min, max) = shared.stats.proposal_sizes();
        let _ = writeln!(out, "Proposal sizes last/min/max: {last}/{min}/{max}");
    }
    out
}

/// One line per connection: ` /ip:port[1](queued=..,recved=..,sent=..[,sid=..,...])`.
fn connections(shared: &Shared, full: bool) -> String {
    let mut out = String::new();
    let sessions = shared.sessions();
    for handle in shared.conns().values() {
        let stats = &handle.stats;
        let _ = write!(
            out,
            " /{}[1](queued={},recved={},sent={}",
            handle.remote,
            stats.outstanding.load(Ordering::Relaxed),
            stats.received.load(Ordering::Relaxed),
            stats.sent.load(Ordering::Relaxed),
        );
        let session = handle.session_id.load(Ordering::Relaxed);
        if full && session != 0 {
            let (min, avg, max) = stats.latency.snapshot();
            let _ = write!(
                out,
                ",sid=0x{session:x},lop={},est={},to={}",
                stats.last_op.lock().map(|op| *op).unwrap_or("NA"),
                stats.established_ms,
                sessions.timeout_of(session).unwrap_or(0),
            );
            let cxid = stats.last_cxid.load(Ordering::Relaxed);
            if cxid >= 0 {
                let _ = write!(out, ",lcxid=0x{cxid:x}");
            }
            let _ = write!(
                out,
                ",lzxid=0x{:x},lresp={},llat={},minlat={min},avglat={},maxlat={max}",
                stats.last_zxid.load(Ordering::Relaxed),
                stats.last_response_ms.load(Ordering::Relaxed),
                stats.latency.last(),
                avg as i64,
            );
        }
        out.push_str(")\n");
    }
    out
}

fn conf(shared: &Shared) -> String {
    let config = &shared.config;
    let (data_size, log_size) = dir_sizes(shared);
    let mut out = format!(
        "clientPort={}\nsecureClientPort=-1\ndataDir={}\ndataDirSize={data_size}\n\
         dataLogDir={}\ndataLogSize={log_size}\ntickTime={}\nmaxClientCnxns={}\n\
         minSessionTimeout={}\nmaxSessionTimeout={}\nclientPortListenBacklog=-1\nserverId={}\n",
        config.client_port,
        shared.storage.snapshot_dir().display(),
        shared.storage.log_dir().display(),
        config.tick_time,
        config.max_client_cnxns,
        config.min_session_timeout(),
        config.max_session_timeout(),
        shared.myid().unwrap_or(0),
    );
    if let Some(member) = &shared.member {
        out.push_str(&quorum_conf(shared, member));
    }
    out
}

/// What an ensemble member's `conf` adds (ZooKeeper's QuorumZooKeeperServer.dumpConf): its
/// limits, ports and role, then the configuration it serves, without a final newline.
fn quorum_conf(shared: &Shared, member: &zk_peer::ServerSpec) -> String {
    let config = &shared.config;
    let peer_type = match member.learner_type {
        zk_peer::LearnerType::Participant => 0,
        zk_peer::LearnerType::Observer => 1,
    };
    let membership = shared
        .db
        .tree()
        .get(crate::tree::CONFIG_PATH)
        .and_then(|node| {
            node.data()
                .map(|data| String::from_utf8_lossy(data).into_owned())
        })
        .unwrap_or_default();
    format!(
        "initLimit={}\nsyncLimit={}\nelectionAlg=3\nelectionPort={}\nquorumPort={}\n\
         peerType={peer_type}\nmembership: \n{membership}",
        config.init_limit, config.sync_limit, member.election_port, member.quorum_port,
    )
}

fn environment() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "<NA>".into());
    let user = std::env::var("USER").unwrap_or_else(|_| "<NA>".into());
    let home = std::env::var("HOME").unwrap_or_else(|_| "<NA>".into());
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|_| "<NA>".into());
    format!(
        "Environment:\nzookeeper.version={VERSION}\nhost.name={host}\njava.version=<NA>\n\
         java.vendor=<NA>\njava.home=<NA>\njava.class.path=<NA>\njava.library.path=<NA>\n\
         java.io.tmpdir={}\njava.compiler=<NA>\nos.name={}\nos.arch={}\nos.version=<NA>\n\
         user.name={user}\nuser.home={home}\nuser.dir={cwd}\nos.memory.free=<NA>\n\
         os.memory.max=<NA>\nos.memory.total=<NA>\n",
        std::env::temp_dir().display(),
        std::env::consts::OS,
        std::env::consts::ARCH,
    )
}

fn monitor(shared: &Shared) -> String {
    let data_size = shared.db.approximate_data_size();
    let (node_count, ephemeral_count) = {
        let tree = shared.db.tree();
        (tree.node_count(), tree.ephemeral_count())
    };
    let (min, avg, max) = shared.stats.latency();
    let watches = shared.db.watches();
    let mut out = String::new();
    let mut line = |key: &str, value: String| {
        let _ = writeln!(out, "zk_{key}\t{value}");
    };
    line("version", VERSION.into());
    line("server_state", shared.mode().unwrap_or("looking").into());
    let status = shared.peer.get().map(|status| *status.borrow());
    if let Some(status) = status {
        line("peer_state", peer_state(shared, status.role).into());
        if status.role == zk_peer::Role::Observing
            && let Some(leader) = status.leader
        {
            line("observer_master_id", leader.to_string());
        }
    }
    line("avg_latency", java_double(avg));
    line("max_latency", max.to_string());
    line("min_latency", min.to_string());
    line(
        "packets_received",
        shared
            .stats
            .packets_received
            .load(Ordering::Relaxed)
            .to_string(),
    );
    line(
        "packets_sent",
        shared
            .stats
            .packets_sent
            .load(Ordering::Relaxed)
            .to_string(),
    );
    line("num_alive_connections", shared.conns().len().to_string());
    line(
        "outstanding_requests",
        shared.in_flight.load(Ordering::Relaxed).to_string(),
    );
    line("uptime", shared.uptime().as_millis().to_string());
    line("znode_count", (node_count + 1).to_string());
    line("watch_count", watches.watch_count().to_string());
    line("ephemerals_count", ephemeral_count.to_string());
    line("approximate_data_size", data_size.to_string());
    line("global_sessions", shared.sessions().len().to_string());
    line("local_sessions", "0".into());
    let fds = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0);
    line("open_file_descriptor_count", fds.to_string());
    line("max_file_descriptor_count", max_fds().to_string());
    if let Some(status) = status {
        line("quorum_size", shared.quorum_size.to_string());
        // Only the leader reports learners: a follower would report synced observers only as
        // an observer master, which this server is not (ZooKeeper leaves the null gauge out).
        if status.role == zk_peer::Role::Leading {
            let observers = status.learners.saturating_sub(status.followers);
            line("learners", status.learners.to_string());
            line("synced_followers", status.followers.to_string());
            line("synced_non_voting_followers", "0".into());
            line("synced_observers", observers.to_string());
            let pending_syncs = match shared.write_path().1 {
                crate::server::WritePath::Leader { proposer, .. } => proposer.pending_syncs(),
                _ => 0,
            };
            line("pending_syncs", pending_syncs.to_string());
            let uptime = shared.serving_for().unwrap_or_default();
            line("leader_uptime", uptime.as_millis().to_string());
            let (last, min, max) = shared.stats.proposal_sizes();
            line("last_proposal_size", last.to_string());
            line("max_proposal_size", max.to_string());
            line("min_proposal_size", min.to_string());
        }
    }
    out
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

fn watch_summary(shared: &Shared) -> String {
    let watches = shared.db.watches();
    let by_conn = watches.data_watches_by_connection();
    format!(
        "{} connections watching {} paths\nTotal watches:{}\n",
        by_conn.len(),
        watches.data_watches_by_path().len(),
        by_conn.iter().map(|(_, paths)| paths.len()).sum::<usize>()
    )
}

fn session_of(shared: &Shared, conn: u64) -> i64 {
    shared
        .conns()
        .get(&conn)
        .map(|h| h.session_id.load(Ordering::Relaxed))
        .unwrap_or(0)
}

fn watches_by_connection(shared: &Shared) -> String {
    let by_conn = shared.db.watches().data_watches_by_connection();
    let mut out = String::new();
    for (conn, paths) in by_conn {
        let _ = writeln!(out, "0x{:x}", session_of(shared, conn));
        for path in paths {
            let _ = writeln!(out, "\t{path}");
        }
    }
    out.push('\n');
    out
}

fn watches_by_path(shared: &Shared) -> String {
    let by_path = shared.db.watches().data_watches_by_path();
    let mut out = String::new();
    for (path, conns) in by_path {
        let _ = writeln!(out, "{path}");
        for conn in conns {
            let _ = writeln!(out, "\t0x{:x}", session_of(shared, conn));
        }
    }
    out.push('\n');
    out
}

fn dump(shared: &Shared) -> String {
    let mut out = String::from("SessionTracker dump:\n");
    let learner = matches!(shared.mode(), Some("follower" | "observer"));
    if !learner {
        // Before the tree's lock: the tracker's lock is never taken inside it.
        session_sets(shared, &mut out);
    }
    let tree = shared.db.tree();
    let mut sessions: Vec<(i64, i32)> = tree.sessions().collect();
    sessions.sort_unstable();
    if learner {
        // A learner's tracker (ZooKeeper's LearnerSessionTracker) lists the database's sessions
        // with their timeouts; their deadlines are the leader's.
        let _ = writeln!(out, "Global Sessions({}):", sessions.len());
        for (session, timeout) in &sessions {
            let _ = writeln!(out, "0x{session:x}\t{timeout}ms");
        }
    }
    let with_ephemerals: Vec<i64> = sessions
        .iter()
        .map(|(s, _)| *s)
        .filter(|s| !tree.ephemerals_of(*s).is_empty())
        .collect();
    out.push_str("ephemeral nodes dump:\n");
    let _ = writeln!(out, "Sessions with Ephemerals ({}):", with_ephemerals.len());
    for session in with_ephemerals {
        let _ = writeln!(out, "0x{session:x}:");
        for path in tree.ephemerals_of(session) {
            let _ = writeln!(out, "\t{path}");
        }
    }
    out
}

/// The expiry tracker's buckets, as ZooKeeper's SessionTrackerImpl dumps them.
fn session_sets(shared: &Shared, out: &mut String) {
    let (buckets, count) = {
        let tracker = shared.sessions();
        (tracker.buckets(), tracker.sessions().count())
    };
    let _ = writeln!(out, "Session Sets ({})/({count}):", buckets.len());
    let (now_mono, now_wall) = (shared.now_ms(), crate::pipeline::wall_clock_ms());
    for (deadline, members) in &buckets {
        let wall = now_wall + i64::try_from(*deadline).unwrap_or(i64::MAX)
            - i64::try_from(now_mono).unwrap_or(0);
        let _ = writeln!(out, "{} expire at {}:", members.len(), java_date(wall));
        for session in members {
            let _ = writeln!(out, "\t0x{session:x}");
        }
    }
}

/// Java's `Date.toString()` in UTC: `Sat Nov 28 01:00:44 UTC 2026`.
fn java_date(epoch_ms: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = epoch_ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{} {} {day:02} {:02}:{:02}:{:02} UTC {year}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
    )
}

/// Bytes in the snapshot and log directories.
fn dir_sizes(shared: &Shared) -> (u64, u64) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_print_like_java() {
        assert_eq!(java_date(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(java_date(1_795_827_644_000), "Sat Nov 28 01:00:44 UTC 2026");
        assert_eq!(java_date(951_782_400_000), "Tue Feb 29 00:00:00 UTC 2000");
    }

    #[test]
    fn doubles_print_like_java() {
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(2.0), "2.0");
        assert_eq!(java_double(2.63041), "2.6304");
    }

    #[test]
    fn version_parses_like_kazoo_and_go_zookeeper() {
        let version = VERSION.split(',').next().unwrap();
        assert!(version.starts_with("3.9."));
        assert!(
            version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        );
        assert!(VERSION.ends_with(" UTC"));
    }
}
