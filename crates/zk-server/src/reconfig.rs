//! Reconfig requests (opcode 16), checked as ZooKeeper's PrepRequestProcessor checks them: the
//! configuration version the client started from, then the server lists, then (in
//! [`crate::prep`]) the caller's WRITE permission on `/zookeeper/config`, which only a super user
//! has. This server does not change an ensemble's membership while it runs: a request that
//! passes every check is refused with UNIMPLEMENTED, so that a client is told exactly what is
//! wrong with a request, and never that a change happened.

use std::collections::BTreeMap;

use zk_peer::{LearnerType, ServerSpec};
use zk_proto::ErrorCode;
use zk_proto::records::ReconfigRequest;

/// A reconfig request as the write path carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconfig {
    pub joining: Option<String>,
    pub leaving: Option<String>,
    pub new_members: Option<String>,
    /// The configuration version the client read, or -1 for any.
    pub from_config: i64,
}

impl From<&ReconfigRequest> for Reconfig {
    fn from(request: &ReconfigRequest) -> Self {
        Reconfig {
            joining: request.joining_servers.clone(),
            leaving: request.leaving_servers.clone(),
            new_members: request.new_members.clone(),
            from_config: request.cur_config_id,
        }
    }
}

/// The version of a configuration text: its `version=<hex>` line (0 without one).
pub fn config_version(text: &[u8]) -> i64 {
    String::from_utf8_lossy(text)
        .lines()
        .find_map(|line| line.trim().strip_prefix("version="))
        .and_then(|hex| i64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0)
}

/// The checks that come before the permission check, with ZooKeeper's answers: BADVERSION when
/// the client started from another configuration; BADARGUMENTS for a server list ZooKeeper
/// cannot parse or a result with fewer than two voters; MARSHALLINGERROR where ZooKeeper's
/// `Long.parseLong` of a server id throws (its catch-all for unexpected exceptions).
/// `current` is the configuration text the ensemble runs.
pub fn check_request(request: &Reconfig, current: &[u8]) -> Result<(), ErrorCode> {
    let current = String::from_utf8_lossy(current);
    if request.from_config != -1 && request.from_config != config_version(current.as_bytes()) {
        return Err(ErrorCode::BadVersion);
    }
    let next: Vec<ServerSpec> = match &request.new_members {
        // Non-incremental: the whole new membership, one `server.N=...` per line or comma.
        Some(members) => members
            .split(['\n', ','])
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with("version="))
            .map(|line| {
                let (sid, spec) = split_entry(line).ok_or(ErrorCode::BadArguments)?;
                ServerSpec::parse(sid, spec).map_err(|_| ErrorCode::BadArguments)
            })
            .collect::<Result<_, _>>()?,
        None => incremental(request, &current)?,
    };
    let voters = next
        .iter()
        .filter(|spec| spec.learner_type == LearnerType::Participant)
        .count();
    if voters < 2 {
        return Err(ErrorCode::BadArguments);
    }
    Ok(())
}

/// The membership after removing `leaving` and adding `joining` to the current one.
fn incremental(request: &Reconfig, current: &str) -> Result<Vec<ServerSpec>, ErrorCode> {
    let mut servers: BTreeMap<u64, ServerSpec> = current
        .lines()
        .filter_map(|line| {
            let (sid, spec) = split_entry(line)?;
            ServerSpec::parse(sid, spec).ok()
        })
        .map(|spec| (spec.sid, spec))
        .collect();
    for sid in list(request.leaving.as_deref()) {
        let sid = sid
            .parse::<u64>()
            .map_err(|_| ErrorCode::MarshallingError)?;
        servers.remove(&sid);
    }
    for joiner in list(request.joining.as_deref()) {
        // ZooKeeper splits a joiner at every '=' and wants exactly two parts.
        let entry = (joiner.matches('=').count() == 1).then(|| split_entry(joiner));
        let Some(Some((sid, spec))) = entry else {
            return Err(ErrorCode::BadArguments);
        };
        sid.parse::<u64>()
            .map_err(|_| ErrorCode::MarshallingError)?;
        let spec = ServerSpec::parse(sid, spec).map_err(|_| ErrorCode::BadArguments)?;
        // ZooKeeper wants all three addresses of a joining server.
        if spec.client.is_none() {
            return Err(ErrorCode::BadArguments);
        }
        servers.insert(spec.sid, spec);
    }
    Ok(servers.into_values().collect())
}

/// A `server.<sid>=<spec>` entry split as ZooKeeper splits it: the id is what follows the
/// key's last '.'.
fn split_entry(entry: &str) -> Option<(&str, &str)> {
    let (key, spec) = entry.split_once('=')?;
    Some((key.rsplit('.').next().unwrap_or(key), spec))
}

/// ZooKeeper's `StringUtils.split(text, ",")`: trimmed, empty items left out.
fn list(text: Option<&str>) -> impl Iterator<Item = &str> {
    text.into_iter()
        .flat_map(|text| text.split(','))
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CURRENT: &[u8] = b"server.1=h:1:2:participant\nserver.2=h:3:4:participant\n\
        server.3=h:5:6:participant\nversion=4";

    fn joining(servers: &str) -> Reconfig {
        Reconfig {
            joining: Some(servers.into()),
            leaving: None,
            new_members: None,
            from_config: -1,
        }
    }

    #[test]
    fn server_lists_are_checked_as_zookeeper_parses_them() {
        let observer = "server.100=0.0.0.0:1234:2345:observer;3456";
        assert_eq!(check_request(&joining(observer), CURRENT), Ok(()));
        assert_eq!(
            check_request(
                &joining(&format!("{observer}, server.7=h:1:2;h:3")),
                CURRENT
            ),
            Ok(())
        );
        for (bad, err) in [
            ("some thing", ErrorCode::BadArguments),
            ("server.1=h:1:2", ErrorCode::BadArguments),
            ("server.1=h:1;3", ErrorCode::BadArguments),
            ("server.1=h:1:2:boss;3", ErrorCode::BadArguments),
            ("server.1=h:1:2;3=4", ErrorCode::BadArguments),
            ("server.x=h:1:2;3", ErrorCode::MarshallingError),
        ] {
            assert_eq!(check_request(&joining(bad), CURRENT), Err(err), "{bad}");
        }
        let leaving = |sids: &str| Reconfig {
            leaving: Some(sids.into()),
            joining: None,
            ..joining("")
        };
        assert_eq!(check_request(&leaving("3"), CURRENT), Ok(()));
        assert_eq!(
            check_request(&leaving("2,3"), CURRENT),
            Err(ErrorCode::BadArguments),
            "one voter left"
        );
        assert_eq!(
            check_request(&leaving("one"), CURRENT),
            Err(ErrorCode::MarshallingError)
        );
        let members = |text: &str| Reconfig {
            new_members: Some(text.into()),
            ..joining("ignored when new members are given")
        };
        assert_eq!(
            check_request(&members("server.1=h:1:2;3,server.2=h:4:5;6"), CURRENT),
            Ok(())
        );
        assert_eq!(
            check_request(&members("server.1=h:1:2;3"), CURRENT),
            Err(ErrorCode::BadArguments)
        );
    }

    #[test]
    fn a_request_from_another_configuration_version_is_refused_first() {
        let from = |version| Reconfig {
            from_config: version,
            ..joining("some thing")
        };
        assert_eq!(check_request(&from(5), CURRENT), Err(ErrorCode::BadVersion));
        assert_eq!(
            check_request(&from(4), CURRENT),
            Err(ErrorCode::BadArguments)
        );
        assert_eq!(config_version(CURRENT), 4);
        assert_eq!(config_version(b"version=1a"), 0x1a);
        assert_eq!(config_version(b""), 0);
    }
}
