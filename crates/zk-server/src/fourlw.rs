//! Four-letter words over the client port (admin-and-4lw §1), in ZooKeeper's text formats,
//! since monitoring tools parse them.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use zk_proto::FourLetterWord;

use crate::json::{Json, java_double};
use crate::report::{self, VERSION};
use crate::server::Shared;

/// What most words answer while the server has no role (an ensemble member looking for a leader).
const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests\n";

/// The text a four-letter word answers (sent in one write, then the connection closes).
/// `argument` is the 8-byte value that follows `stmk`, if any.
pub fn answer(shared: &Shared, word: FourLetterWord, argument: Option<i64>) -> String {
    let name = word.name();
    // Every known word counts as a packet received, allowed or not, as in ZooKeeper; its
    // answer counts as one sent once written.
    shared.stats.received(4);
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
            let (data, log) = report::dir_sizes(shared);
            format!("datadir_size: {data}\nlogdir_size: {log}\n")
        }
        FourLetterWord::Srst => {
            report::reset_server_stats(shared);
            "Server stats reset.\n".into()
        }
        FourLetterWord::Crst => {
            report::reset_connection_stats(shared);
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

/// One line per connection: ` /ip:port[interest ops](queued=..,recved=..,sent=..[,sid=..,...])`.
fn connections(shared: &Shared, full: bool) -> String {
    let mut out = String::new();
    for conn in report::connections(shared) {
        let _ = write!(
            out,
            " /{}[{}](queued={},recved={},sent={}",
            conn.remote, conn.interest_ops, conn.outstanding, conn.received, conn.sent,
        );
        if full && conn.session != 0 {
            let _ = write!(
                out,
                ",sid=0x{:x},lop={},est={},to={}",
                conn.session, conn.last_op, conn.established_ms, conn.timeout,
            );
            if conn.last_cxid >= 0 {
                let _ = write!(out, ",lcxid=0x{:x}", conn.last_cxid);
            }
            let _ = write!(
                out,
                ",lzxid=0x{:x},lresp={},llat={},minlat={},avglat={},maxlat={}",
                conn.last_zxid,
                conn.last_response_ms,
                conn.last_latency,
                conn.min_latency,
                conn.avg_latency as i64,
                conn.max_latency,
            );
        }
        out.push_str(")\n");
    }
    out
}

fn conf(shared: &Shared) -> String {
    let config = &shared.config;
    let (data_size, log_size) = report::dir_sizes(shared);
    let mut out = format!(
        "clientPort={}\nsecureClientPort={}\ndataDir={}\ndataDirSize={data_size}\n\
         dataLogDir={}\ndataLogSize={log_size}\ntickTime={}\nmaxClientCnxns={}\n\
         minSessionTimeout={}\nmaxSessionTimeout={}\nclientPortListenBacklog=-1\nserverId={}\n",
        shared.client_address().port(),
        config.secure_client_port.map_or(-1, i32::from),
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
    let membership = report::config_text(shared);
    format!(
        "initLimit={}\nsyncLimit={}\nelectionAlg=3\nelectionPort={}\nquorumPort={}\n\
         peerType={peer_type}\nmembership: \n{membership}",
        config.init_limit, config.sync_limit, member.election_port, member.quorum_port,
    )
}

fn environment() -> String {
    let mut out = String::from("Environment:\n");
    for (key, value) in report::environment() {
        let _ = writeln!(out, "{key}={value}");
    }
    out
}

fn monitor(shared: &Shared) -> String {
    let mut out = String::new();
    for (key, value) in report::monitor(shared) {
        let _ = match value {
            Json::Text(text) => writeln!(out, "zk_{key}\t{text}"),
            Json::Real(real) => writeln!(out, "zk_{key}\t{}", java_double(real)),
            value => writeln!(out, "zk_{key}\t{}", value.pretty()),
        };
    }
    out
}

fn watch_summary(shared: &Shared) -> String {
    let (connections, paths, total) = report::watch_summary(shared);
    format!("{connections} connections watching {paths} paths\nTotal watches:{total}\n")
}

fn watches_by_connection(shared: &Shared) -> String {
    let mut out = String::new();
    for (session, paths) in report::watches_by_session(shared) {
        let _ = writeln!(out, "0x{session:x}");
        for path in paths {
            let _ = writeln!(out, "\t{path}");
        }
    }
    out.push('\n');
    out
}

fn watches_by_path(shared: &Shared) -> String {
    let mut out = String::new();
    for (path, sessions) in report::watches_by_path(shared) {
        let _ = writeln!(out, "{path}");
        for session in sessions {
            let _ = writeln!(out, "\t0x{session:x}");
        }
    }
    out.push('\n');
    out
}

fn dump(shared: &Shared) -> String {
    let mut out = String::from("SessionTracker dump:\n");
    if report::tracks_no_expiry(shared) {
        // A learner's tracker (ZooKeeper's LearnerSessionTracker) lists the database's sessions
        // with their timeouts; their deadlines are the leader's.
        let sessions = report::sessions(shared);
        let _ = writeln!(out, "Global Sessions({}):", sessions.len());
        for (session, timeout) in &sessions {
            let _ = writeln!(out, "0x{session:x}\t{timeout}ms");
        }
    } else {
        session_sets(shared, &mut out);
    }
    let with_ephemerals = report::ephemerals_by_session(shared);
    out.push_str("ephemeral nodes dump:\n");
    let _ = writeln!(out, "Sessions with Ephemerals ({}):", with_ephemerals.len());
    for (session, paths) in with_ephemerals {
        let _ = writeln!(out, "0x{session:x}:");
        for path in paths {
            let _ = writeln!(out, "\t{path}");
        }
    }
    out.push_str("Connections dump:\n");
    let connections: Vec<(u64, Vec<String>)> = report::connection_sets(shared)
        .into_iter()
        .map(|(deadline, members)| {
            let members = members
                .iter()
                .map(|(remote, session)| format!("ip: /{remote} sessionId: 0x{session:x}"))
                .collect();
            (deadline, members)
        })
        .collect();
    expiry_sets(shared, "Connections", &connections, &mut out);
    out
}

/// The session expiry tracker's buckets, as ZooKeeper's SessionTrackerImpl dumps them.
fn session_sets(shared: &Shared, out: &mut String) {
    let buckets: Vec<(u64, Vec<String>)> = shared
        .sessions()
        .buckets()
        .into_iter()
        .map(|(deadline, sessions)| {
            let sessions = sessions.iter().map(|s| format!("0x{s:x}")).collect();
            (deadline, sessions)
        })
        .collect();
    expiry_sets(shared, "Session", &buckets, out);
}

/// ZooKeeper's `ExpiryQueue.dump`: `<label> Sets (buckets)/(members):`, then each bucket's size
/// and wall-clock deadline, then its members. Deadlines are on the server's monotonic clock.
fn expiry_sets(shared: &Shared, label: &str, buckets: &[(u64, Vec<String>)], out: &mut String) {
    let count: usize = buckets.iter().map(|(_, members)| members.len()).sum();
    let _ = writeln!(out, "{label} Sets ({})/({count}):", buckets.len());
    let (now_mono, now_wall) = (shared.now_ms(), crate::pipeline::wall_clock_ms());
    for (deadline, members) in buckets {
        let wall = now_wall + i64::try_from(*deadline).unwrap_or(i64::MAX)
            - i64::try_from(now_mono).unwrap_or(0);
        let _ = writeln!(out, "{} expire at {}:", members.len(), java_date(wall));
        for member in members {
            let _ = writeln!(out, "\t{member}");
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
