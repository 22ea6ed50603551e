//! The AdminServer's commands (admin-and-4lw §2.2): ZooKeeper 3.8's names and aliases, each
//! answering a JSON object whose own keys come first, then `command` (the primary name) and
//! `error`. The HTTP side is [`crate::admin`].

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use crate::json::Json;
use crate::report::{self, VERSION};
use crate::server::Shared;

/// What a command answers while the server has no role (a member looking for a leader).
const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";

type Run = fn(&Shared, &HashMap<String, String>, &mut Json);

struct Command {
    /// The primary name first, then the aliases.
    names: &'static [&'static str],
    /// Answers only while the server serves.
    needs_server: bool,
    run: Run,
}

const COMMANDS: &[Command] = &[
    Command {
        names: &["configuration", "conf", "config"],
        needs_server: true,
        run: configuration,
    },
    Command {
        names: &["connection_stat_reset", "crst"],
        needs_server: true,
        run: |shared, _, _| report::reset_connection_stats(shared),
    },
    Command {
        names: &["connections", "cons"],
        needs_server: true,
        run: |shared, _, out| put_connections(shared, false, out),
    },
    Command {
        names: &["dirs"],
        needs_server: true,
        run: |shared, _, out| {
            let (data, log) = report::dir_sizes(shared);
            out.put("datadir_size", data);
            out.put("logdir_size", log);
        },
    },
    Command {
        names: &["dump"],
        needs_server: true,
        run: dump,
    },
    Command {
        names: &["environment", "env", "envi"],
        needs_server: false,
        run: |_, _, out| {
            for (key, value) in report::environment() {
                out.put(key, value);
            }
        },
    },
    Command {
        names: &["get_trace_mask", "gtmk"],
        needs_server: false,
        run: |shared, _, out| out.put("tracemask", shared.trace_mask.load(Ordering::Relaxed)),
    },
    Command {
        names: &["hash"],
        needs_server: true,
        run: digests,
    },
    Command {
        names: &["initial_configuration", "icfg"],
        needs_server: true,
        run: |shared, _, out| {
            let text = shared.config.initial_config.clone().unwrap_or_default();
            out.put("initial_configuration", text);
        },
    },
    Command {
        names: &["is_read_only", "isro"],
        needs_server: true,
        run: |shared, _, out| out.put("read_only", shared.is_read_only()),
    },
    Command {
        names: &["last_snapshot", "lsnp"],
        needs_server: true,
        run: last_snapshot,
    },
    Command {
        names: &["leader", "lead"],
        needs_server: true,
        run: leader,
    },
    Command {
        names: &["observer_connection_stat_reset", "orst"],
        needs_server: true,
        run: |shared, _, _| {
            if let Some(learners) = shared.peer_learners.get() {
                learners.reset_observers();
            }
        },
    },
    Command {
        names: &["observers", "obsr"],
        needs_server: true,
        run: observers,
    },
    Command {
        names: &["monitor", "mntr"],
        needs_server: false,
        run: |shared, _, out| {
            for (key, value) in report::monitor(shared) {
                out.put(key, value);
            }
        },
    },
    Command {
        names: &["ruok"],
        needs_server: true,
        run: |_, _, _| {},
    },
    Command {
        names: &["set_trace_mask", "stmk"],
        needs_server: false,
        run: set_trace_mask,
    },
    Command {
        names: &["server_stats", "srvr"],
        needs_server: true,
        run: server_stats,
    },
    Command {
        names: &["stat_reset", "srst"],
        needs_server: true,
        run: |shared, _, _| report::reset_server_stats(shared),
    },
    Command {
        names: &["stats", "stat"],
        needs_server: true,
        run: |shared, args, out| {
            server_stats(shared, args, out);
            put_connections(shared, true, out);
        },
    },
    Command {
        // A JVM's properties: this server has none to show.
        names: &["system_properties", "sysp"],
        needs_server: false,
        run: |_, _, _| {},
    },
    Command {
        names: &["voting_view"],
        needs_server: true,
        run: voting_view,
    },
    Command {
        names: &["watches", "wchc"],
        needs_server: true,
        run: |shared, _, out| {
            let by_session = report::watches_by_session(shared)
                .into_iter()
                .map(|(session, paths)| (session.to_string(), paths.into()))
                .collect();
            out.put("session_id_to_watched_paths", Json::Object(by_session));
        },
    },
    Command {
        names: &["watches_by_path", "wchp"],
        needs_server: true,
        run: |shared, _, out| {
            let by_path = report::watches_by_path(shared)
                .into_iter()
                .map(|(path, sessions)| (path, sessions.into()))
                .collect();
            out.put("path_to_session_ids", Json::Object(by_path));
        },
    },
    Command {
        names: &["watch_summary", "wchs"],
        needs_server: true,
        run: |shared, _, out| {
            let (connections, paths, total) = report::watch_summary(shared);
            out.put("num_connections", connections);
            out.put("num_paths", paths);
            out.put("num_total_watches", total);
        },
    },
    Command {
        names: &["zabstate"],
        needs_server: false,
        run: zab_state,
    },
];

/// Every command's primary name, sorted, for the command index.
pub fn primary_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = COMMANDS.iter().map(|c| c.names[0]).collect();
    names.sort_unstable();
    names
}

/// Runs the command called `name` (a primary name or an alias) with the query's arguments.
pub fn run(shared: &Shared, name: &str, args: &HashMap<String, String>) -> Json {
    let Some(command) = COMMANDS.iter().find(|c| c.names.contains(&name)) else {
        return response(name, Some(format!("Unknown command: {name}")));
    };
    if command.needs_server && shared.mode().is_none() {
        return response(name, Some(NOT_SERVING.into()));
    }
    let mut out = Json::object();
    (command.run)(shared, args, &mut out);
    out.put("command", command.names[0]);
    if out.get("error").is_none() {
        out.put("error", Json::Null);
    }
    out
}

fn response(name: &str, error: Option<String>) -> Json {
    let mut out = Json::object();
    out.put("command", name);
    out.put("error", error);
    out
}

fn configuration(shared: &Shared, _: &HashMap<String, String>, out: &mut Json) {
    let config = &shared.config;
    out.put("client_port", i64::from(shared.client_address().port()));
    out.put(
        "data_dir",
        shared.storage.snapshot_dir().display().to_string(),
    );
    out.put(
        "data_log_dir",
        shared.storage.log_dir().display().to_string(),
    );
    out.put("tick_time", config.tick_time);
    out.put("max_client_cnxns", i64::from(config.max_client_cnxns));
    out.put("min_session_timeout", config.min_session_timeout());
    out.put("max_session_timeout", config.max_session_timeout());
    out.put("server_id", shared.myid().unwrap_or(0));
    out.put("client_port_listen_backlog", -1i64);
}

/// `connections` and `secure_connections`: the client port's and the TLS port's.
/// The tree digests recorded after every 128th transaction, oldest first, as ZooKeeper's
/// Jackson writes its ZxidDigest list.
fn digests(shared: &Shared, _: &HashMap<String, String>, out: &mut Json) {
    let list = shared
        .db
        .tree()
        .digest_log()
        .map(|record| {
            let mut entry = Json::object();
            entry.put("zxid", record.zxid);
            entry.put("digest", record.digest);
            entry.put("digestVersion", i64::from(crate::digest::DIGEST_VERSION));
            entry
        })
        .collect::<Vec<_>>();
    out.put("digests", list);
}

fn put_connections(shared: &Shared, brief: bool, out: &mut Json) {
    let (secure, plain): (Vec<_>, Vec<_>) = report::connections(shared)
        .into_iter()
        .partition(|conn| conn.secure);
    out.put("connections", connection_list(plain, brief));
    out.put("secure_connections", connection_list(secure, brief));
}

fn connection_list(connections: Vec<report::Connection>, brief: bool) -> Json {
    let list = connections
        .into_iter()
        .map(|conn| {
            let mut info = Json::object();
            info.put("remote_socket_address", conn.remote.to_string());
            info.put("interest_ops", conn.interest_ops);
            info.put("outstanding_requests", conn.outstanding);
            info.put("packets_received", conn.received);
            info.put("packets_sent", conn.sent);
            if !brief {
                info.put("session_id", conn.session);
                info.put("last_operation", conn.last_op);
                info.put("established", conn.established_ms);
                info.put("session_timeout", i64::from(conn.timeout));
                info.put("last_cxid", conn.last_cxid);
                info.put("last_zxid", conn.last_zxid);
                info.put("last_response_time", conn.last_response_ms);
                info.put("last_latency", conn.last_latency);
                info.put("min_latency", conn.min_latency);
                info.put("avg_latency", conn.avg_latency as i64);
                info.put("max_latency", conn.max_latency);
            }
            info
        })
        .collect();
    Json::Array(list)
}

fn dump(shared: &Shared, _: &HashMap<String, String>, out: &mut Json) {
    let buckets = if report::tracks_no_expiry(shared) {
        Vec::new()
    } else {
        shared.sessions().buckets()
    };
    let expiry = buckets
        .into_iter()
        .map(|(deadline, sessions)| (deadline.to_string(), sessions.into()))
        .collect();
    out.put("expiry_time_to_session_ids", Json::Object(expiry));
    let ephemerals = report::ephemerals_by_session(shared)
        .into_iter()
        .map(|(session, paths)| (session.to_string(), paths.into()))
        .collect();
    out.put("session_id_to_ephemeral_paths", Json::Object(ephemerals));
}

fn last_snapshot(shared: &Shared, _: &HashMap<String, String>, out: &mut Json) {
    let newest = shared.storage.snapshots.newest().ok().flatten();
    let modified = newest.and_then(|(zxid, path)| {
        let modified = std::fs::metadata(path).ok()?.modified().ok()?;
        let secs = modified
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs();
        Some((zxid, i64::try_from(secs).unwrap_or(i64::MAX)))
    });
    let (zxid, timestamp) = modified.unwrap_or((-1, -1));
    out.put("zxid", format!("{zxid:x}"));
    out.put("timestamp", timestamp);
}

fn leader(shared: &Shared, _: &HashMap<String, String>, out: &mut Json) {
    let Some(status) = shared.peer.get().map(|status| *status.borrow()) else {
        out.put("error", "server is not initialized");
        return;
    };
    out.put("is_leader", status.role == zk_peer::Role::Leading);
    let leader = status.leader.and_then(|sid| {
        report::membership(shared)
            .into_iter()
            .find(|server| server.sid == sid)
    });
    out.put("leader_id", leader.as_ref().map_or(-1, |l| l.sid as i64));
    out.put("leader_ip", leader.map(|l| l.host).unwrap_or_default());
}

/// The observers connected to this leader, as ZooKeeper's LearnerHandler describes them (not
/// `queued_packets_size`: our queue does not count bytes). Others report none, as ZooKeeper's
/// followers do without observer masters.
fn observers(shared: &Shared, _: &HashMap<String, String>, out: &mut Json) {
    let leading = shared
        .peer
        .get()
        .is_some_and(|status| status.borrow().role == zk_peer::Role::Leading);
    let observers: Vec<Json> = match shared.peer_learners.get() {
        Some(learners) if leading => learners
            .list()
            .into_iter()
            .filter(|learner| learner.observer)
            .map(|learner| {
                let mut info = Json::object();
                info.put(
                    "remote_socket_address",
                    learner.remote.map_or(Json::Null, Json::Text),
                );
                info.put("sid", learner.sid);
                info.put("established", learner.established_ms);
                info.put("queued_packets", learner.queued_packets);
                info.put("packets_received", learner.packets_received);
                info.put("packets_sent", learner.packets_sent);
                info.put("requests", learner.requests);
                info.put("last_zxid", learner.last_zxid);
                info
            })
            .collect(),
        _ => Vec::new(),
    };
    out.put("synced_observers", observers.len());
    out.put("observers", Json::Array(observers));
}

fn set_trace_mask(shared: &Shared, args: &HashMap<String, String>, out: &mut Json) {
    let Some(text) = args.get("traceMask") else {
        out.put("error", "setTraceMask requires long traceMask argument");
        return;
    };
    let Ok(mask) = text.parse::<i64>() else {
        out.put(
            "error",
            format!("setTraceMask requires long traceMask argument, got {text}"),
        );
        return;
    };
    shared.trace_mask.store(mask, Ordering::Relaxed);
    out.put("tracemask", mask);
}

fn server_stats(shared: &Shared, _: &HashMap<String, String>, out: &mut Json) {
    let (data_size, log_size) = report::dir_sizes(shared);
    let (min, avg, max) = shared.stats.latency();
    let mut stats = Json::object();
    stats.put(
        "packets_sent",
        shared.stats.packets_sent.load(Ordering::Relaxed),
    );
    stats.put(
        "packets_received",
        shared.stats.packets_received.load(Ordering::Relaxed),
    );
    stats.put(
        "fsync_threshold_exceed_count",
        shared.storage.log.sync_stats().slow_syncs(),
    );
    let responses = buffer_stats(shared.stats.response_sizes());
    stats.put("client_response_stats", responses.clone());
    stats.put("data_dir_size", data_size);
    stats.put("log_dir_size", log_size);
    stats.put("server_state", shared.mode().unwrap_or("looking"));
    stats.put("last_processed_zxid", shared.db.last_zxid());
    stats.put(
        "outstanding_requests",
        shared.in_flight.load(Ordering::Relaxed),
    );
    stats.put("avg_latency", avg);
    stats.put("max_latency", max);
    stats.put("min_latency", min);
    stats.put("num_alive_client_connections", shared.conns().len());
    stats.put(
        "uptime",
        u64::try_from(shared.uptime().as_millis()).unwrap_or(u64::MAX),
    );
    out.put("version", VERSION);
    out.put("read_only", shared.is_read_only());
    out.put("server_stats", stats);
    out.put("client_response", responses);
    if shared.mode() == Some("leader") {
        out.put(
            "proposal_stats",
            buffer_stats(shared.stats.proposal_sizes()),
        );
    }
    out.put("node_count", shared.db.tree().node_count() + 1);
}

/// ZooKeeper's BufferStats object from (last, min, max) sizes.
fn buffer_stats((last, min, max): (i64, i64, i64)) -> Json {
    let mut stats = Json::object();
    stats.put("last_buffer_size", last);
    stats.put("min_buffer_size", min);
    stats.put("max_buffer_size", max);
    stats
}

fn voting_view(shared: &Shared, _: &HashMap<String, String>, out: &mut Json) {
    if !shared.is_ensemble() {
        out.put("current_config", Json::object());
        return;
    }
    let voters = report::membership(shared)
        .into_iter()
        .filter(|server| server.learner_type == zk_peer::LearnerType::Participant)
        .map(|server| {
            let mut view = Json::object();
            view.put("server_addresses", vec![server.quorum_address()]);
            view.put("election_addresses", vec![server.election_address()]);
            let client = server
                .client
                .map(|(host, port)| format!("{host}:{port}"))
                .unwrap_or_default();
            view.put("client_address", client);
            view.put("learner_type", "participant");
            (server.sid.to_string(), view)
        })
        .collect();
    out.put("current_config", Json::Object(voters));
}

fn zab_state(shared: &Shared, _: &HashMap<String, String>, out: &mut Json) {
    let (Some(member), Some(status)) = (&shared.member, shared.peer.get()) else {
        out.put("voting", false);
        out.put("zabstate", "");
        return;
    };
    let status = *status.borrow();
    let voting = report::membership(shared).iter().any(|server| {
        server.sid == member.sid
            && server.learner_type == zk_peer::LearnerType::Participant
            && server.quorum_address() == member.quorum_address()
            && server.election_address() == member.election_address()
    });
    let zxid = shared.db.last_zxid();
    let phase = match status.role {
        zk_peer::Role::Looking => "election",
        _ if shared.serving() => "broadcast",
        _ => "synchronization",
    };
    out.put("myid", member.sid);
    out.put("is_leader", status.role == zk_peer::Role::Leading);
    out.put("quorum_address", member.quorum_address());
    out.put("election_address", member.election_address());
    out.put("client_address", shared.client_address().to_string());
    out.put("voting", voting);
    out.put("last_zxid", format!("0x{zxid:x}"));
    out.put("zab_epoch", zxid >> 32);
    out.put("zab_counter", zxid & 0xffff_ffff);
    out.put("zabstate", phase);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_and_alias_leads_to_one_command() {
        let mut seen = std::collections::HashSet::new();
        for command in COMMANDS {
            for name in command.names {
                assert!(seen.insert(*name), "{name} names two commands");
            }
        }
        let primaries = primary_names();
        assert_eq!(primaries.len(), COMMANDS.len());
        assert!(primaries.windows(2).all(|pair| pair[0] < pair[1]));
    }
}
