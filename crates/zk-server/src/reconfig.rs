//! Reconfig requests (opcode 16), checked as ZooKeeper's PrepRequestProcessor checks them: the
//! configuration version the client started from, then the server lists, then (in
//! [`crate::prep`]) the caller's WRITE permission on `/zookeeper/config`, which only a super user
//! has. On the leader, [`crate::prep`] first refuses a reconfig while another is in progress
//! and one whose new voters are not synced enough to make a quorum. The leader's broadcast
//! commits a reconfig once quorums of the old and the new configuration have logged it; every
//! member then runs the new configuration (see `zk_peer::membership`). Moving a voter that
//! stays to other quorum or election ports, and reconfiguring hierarchical quorums, are
//! refused with UNIMPLEMENTED after every other check, so that a client is never told a change
//! happened that did not.

use std::collections::BTreeMap;

use zk_peer::{LearnerType, ServerSpec, membership_servers, membership_version};
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

/// The membership a request asks for, after the checks that come before the permission check,
/// with ZooKeeper's answers: BADVERSION when the client started from another configuration;
/// BADARGUMENTS for a server list ZooKeeper cannot parse or a result with fewer than two voters;
/// MARSHALLINGERROR where ZooKeeper's `Long.parseLong` of a server id throws (its catch-all for
/// unexpected exceptions). `current` is the configuration text the ensemble runs.
pub fn next_membership(request: &Reconfig, current: &[u8]) -> Result<Vec<ServerSpec>, ErrorCode> {
    if request.from_config != -1 && request.from_config != membership_version(current) {
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
        // As ZooKeeper: "Incremental reconfiguration requested but last configuration seen
        // has a non-majority quorum system".
        None if is_hierarchical(current) => return Err(ErrorCode::BadArguments),
        None => incremental(request, membership_servers(current))?,
    };
    if voters(&next).count() < 2 {
        return Err(ErrorCode::BadArguments);
    }
    Ok(next)
}

/// Whether a configuration text has hierarchical quorums (`group.G` or `weight.SID` lines).
pub fn is_hierarchical(text: &[u8]) -> bool {
    String::from_utf8_lossy(text)
        .lines()
        .any(|line| line.starts_with("group.") || line.starts_with("weight."))
}

/// Whether `next` gives a voter that stays a voter other quorum or election addresses (the
/// members' connections would have to move with it, which this server does not do).
pub fn moves_a_voter(current: &[ServerSpec], next: &[ServerSpec]) -> bool {
    let ports = |spec: &ServerSpec| (spec.host.clone(), spec.quorum_port, spec.election_port);
    voters(current).any(|before| {
        voters(next).any(|after| after.sid == before.sid && ports(after) != ports(before))
    })
}

fn voters(servers: &[ServerSpec]) -> impl Iterator<Item = &ServerSpec> {
    servers
        .iter()
        .filter(|spec| spec.learner_type == LearnerType::Participant)
}

/// The membership after removing `leaving` and adding `joining` to the current one.
fn incremental(request: &Reconfig, current: Vec<ServerSpec>) -> Result<Vec<ServerSpec>, ErrorCode> {
    let mut servers: BTreeMap<u64, ServerSpec> =
        current.into_iter().map(|spec| (spec.sid, spec)).collect();
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
    fn a_hierarchical_configuration_lists_only_its_servers_and_refuses_increments() {
        let text = b"server.1=h:1:2:participant\nserver.2=h:3:4:participant\n\
            server.3=h:5:6:participant\ngroup.1=1:2:3\nweight.1=2\nversion=4";
        let sids: Vec<u64> = membership_servers(text)
            .iter()
            .map(|spec| spec.sid)
            .collect();
        assert_eq!(sids, [1, 2, 3]);
        assert!(is_hierarchical(text) && !is_hierarchical(CURRENT));
        let observer = joining("server.4=h:7:8:observer;4");
        assert_eq!(
            next_membership(&observer, text),
            Err(ErrorCode::BadArguments)
        );
        assert!(next_membership(&observer, CURRENT).is_ok());
    }

    #[test]
    fn server_lists_are_checked_as_zookeeper_parses_them() {
        let sids = |request: &Reconfig| {
            next_membership(request, CURRENT)
                .map(|next| next.iter().map(|spec| spec.sid).collect::<Vec<_>>())
        };
        let observer = "server.100=0.0.0.0:1234:2345:observer;3456";
        assert_eq!(sids(&joining(observer)), Ok(vec![1, 2, 3, 100]));
        assert_eq!(
            sids(&joining(&format!("{observer}, server.7=h:1:2;h:3"))),
            Ok(vec![1, 2, 3, 7, 100])
        );
        for (bad, err) in [
            ("some thing", ErrorCode::BadArguments),
            ("server.1=h:1:2", ErrorCode::BadArguments),
            ("server.1=h:1;3", ErrorCode::BadArguments),
            ("server.1=h:1:2:boss;3", ErrorCode::BadArguments),
            ("server.1=h:1:2;3=4", ErrorCode::BadArguments),
            ("server.x=h:1:2;3", ErrorCode::MarshallingError),
        ] {
            assert_eq!(next_membership(&joining(bad), CURRENT), Err(err), "{bad}");
        }
        let leaving = |sids: &str| Reconfig {
            leaving: Some(sids.into()),
            joining: None,
            ..joining("")
        };
        assert_eq!(sids(&leaving("3")), Ok(vec![1, 2]));
        assert_eq!(
            next_membership(&leaving("2,3"), CURRENT),
            Err(ErrorCode::BadArguments),
            "one voter left"
        );
        assert_eq!(
            next_membership(&leaving("one"), CURRENT),
            Err(ErrorCode::MarshallingError)
        );
        let members = |text: &str| Reconfig {
            new_members: Some(text.into()),
            ..joining("ignored when new members are given")
        };
        assert_eq!(
            sids(&members("server.1=h:1:2;3,server.2=h:4:5;6")),
            Ok(vec![1, 2])
        );
        assert_eq!(
            next_membership(&members("server.1=h:1:2;3"), CURRENT),
            Err(ErrorCode::BadArguments)
        );
    }

    #[test]
    fn a_request_from_another_configuration_version_is_refused_first() {
        let from = |version| Reconfig {
            from_config: version,
            ..joining("some thing")
        };
        assert_eq!(
            next_membership(&from(5), CURRENT),
            Err(ErrorCode::BadVersion)
        );
        assert_eq!(
            next_membership(&from(4), CURRENT),
            Err(ErrorCode::BadArguments)
        );
        assert_eq!(membership_version(CURRENT), 4);
        assert_eq!(membership_version(b"version=1a"), 0x1a);
        assert_eq!(membership_version(b""), 0);
    }

    #[test]
    fn voters_may_come_and_go_but_not_move() {
        let current = membership_servers(CURRENT);
        assert_eq!(current.len(), 3);
        let with = |extra: &str| {
            let mut next = current.clone();
            next.extend(membership_servers(extra.as_bytes()));
            next
        };
        assert!(!moves_a_voter(&current, &with("server.9=h:7:8:observer;9")));
        assert!(!moves_a_voter(
            &current,
            &with("server.9=h:7:8:participant;9")
        ));
        assert!(!moves_a_voter(&current, &current[..2]));
        let moved = membership_servers(b"server.1=h:1:2\nserver.2=h:3:4\nserver.3=h:5:7");
        assert!(moves_a_voter(&current, &moved));
        let client_moved = membership_servers(b"server.1=h:1:2;7\nserver.2=h:3:4\nserver.3=h:5:6");
        assert!(!moves_a_voter(&current, &client_moved));
        let text = zk_peer::config_text(&with("server.9=h:7:8:observer;9"), 0x1_0000_0003);
        assert!(text.ends_with("server.9=h:7:8:observer;0.0.0.0:9\nversion=100000003"));
        assert_eq!(membership_servers(text.as_bytes()).len(), 4);
    }
}
