//! Four-letter words over plain TCP: the only window into a node, since an ensemble that is still
//! electing serves no client sessions but always answers `ruok` and `srvr`.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use super::roles::Role;

/// What a quorum member without a quorum prints instead of its statistics.
const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";

/// Sends `word` to the server on loopback `port` and returns everything it writes before closing.
pub fn ask(port: u16, word: &str, timeout: Duration) -> io::Result<String> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&address, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(word.as_bytes())?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply)?;
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

/// A node's state as `srvr` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerStatus {
    pub role: Role,
    /// `Zxid:` — absent while the server is not serving.
    pub zxid: Option<u64>,
}

impl ServerStatus {
    pub const DOWN: ServerStatus = ServerStatus {
        role: Role::Down,
        zxid: None,
    };

    /// Asks `srvr`; a node that cannot be reached is `Down`.
    pub fn query(port: u16, timeout: Duration) -> ServerStatus {
        ask(port, "srvr", timeout).map_or(ServerStatus::DOWN, |reply| parse_srvr(&reply))
    }
}

/// Reads the `Mode:` and `Zxid:` lines of a `srvr` reply.
pub fn parse_srvr(reply: &str) -> ServerStatus {
    if reply.contains(NOT_SERVING) {
        return ServerStatus {
            role: Role::Looking,
            zxid: None,
        };
    }
    let field = |name: &str| {
        reply
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(str::trim)
    };
    let role = field("Mode:").map_or(Role::Unknown, Role::from_mode);
    let zxid = field("Zxid:")
        .and_then(|hex| hex.strip_prefix("0x"))
        .and_then(|hex| u64::from_str_radix(hex, 16).ok());
    ServerStatus { role, zxid }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mode_and_zxid() {
        let reply = "Zookeeper version: 3.8.0-x, built on 2024-12-29 17:54 UTC\n\
                     Latency min/avg/max: 0/0.0/0\nReceived: 3\nSent: 2\nConnections: 1\n\
                     Outstanding: 0\nZxid: 0x100000003\nMode: follower\nNode count: 5\n";
        assert_eq!(
            parse_srvr(reply),
            ServerStatus {
                role: Role::Follower,
                zxid: Some(0x1_0000_0003)
            }
        );
        let leader = "Zxid: 0x0\nMode: leader\nProposal sizes last/min/max: -1/-1/-1\n";
        assert_eq!(parse_srvr(leader).role, Role::Leader);
        assert_eq!(parse_srvr(leader).zxid, Some(0));
    }

    #[test]
    fn the_not_serving_text_means_looking() {
        let status = parse_srvr("This ZooKeeper instance is not currently serving requests\n");
        assert_eq!(status.role, Role::Looking);
        assert_eq!(status.zxid, None);
    }

    #[test]
    fn anything_else_is_unknown() {
        assert_eq!(parse_srvr("").role, Role::Unknown);
        assert_eq!(
            parse_srvr("Mode: sleeping\nZxid: 0xzz\n"),
            ServerStatus {
                role: Role::Unknown,
                zxid: None
            }
        );
    }

    #[test]
    fn a_closed_port_is_down() {
        // Bind, learn the port, and close it again: nothing listens there now.
        let port = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .unwrap();
        assert_eq!(
            ServerStatus::query(port, Duration::from_millis(200)),
            ServerStatus::DOWN
        );
    }
}
