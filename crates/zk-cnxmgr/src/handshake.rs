//! The first frame of an election stream: who is dialling and where to dial it back.

use std::net::SocketAddr;

use thiserror::Error;
use zk_election::Sid;
use zk_proto::peer::{ElectionFrame, ElectionHello, election_frame};

use crate::config::MAX_HELLO_ADDRESS_LEN;
use crate::convert::{sid_from_wire, sid_to_wire};

/// A validated hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hello {
    pub(crate) sid: Sid,
    /// The dialler's announced election address, unless empty or a wildcard.
    pub(crate) dial_back: Option<String>,
}

/// Why a first frame is not an acceptable hello.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub(crate) enum HelloError {
    #[error("the first frame of an election stream must be a hello")]
    NotAHello,
    #[error("hello address is {0} bytes long (limit {MAX_HELLO_ADDRESS_LEN})")]
    AddressTooLong(usize),
}

/// The frame announcing `myid` at `address`.
pub(crate) fn hello_frame(myid: Sid, address: &str) -> ElectionFrame {
    ElectionFrame {
        kind: Some(election_frame::Kind::Hello(ElectionHello {
            sid: sid_to_wire(myid),
            election_address: address.to_owned(),
        })),
    }
}

/// Validates the first frame of a stream.
pub(crate) fn parse_hello(frame: ElectionFrame) -> Result<Hello, HelloError> {
    let Some(election_frame::Kind::Hello(hello)) = frame.kind else {
        return Err(HelloError::NotAHello);
    };
    let address = hello.election_address;
    if address.len() > MAX_HELLO_ADDRESS_LEN {
        return Err(HelloError::AddressTooLong(address.len()));
    }
    Ok(Hello {
        sid: sid_from_wire(hello.sid),
        dial_back: usable_address(address),
    })
}

/// Upstream discards wildcard addresses: nobody can dial `0.0.0.0` back.
fn usable_address(address: String) -> Option<String> {
    if address.is_empty() {
        return None;
    }
    match address.parse::<SocketAddr>() {
        Ok(addr) if addr.ip().is_unspecified() || addr.port() == 0 => None,
        _ => Some(address),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_proto::peer::Notification;

    #[test]
    fn hello_round_trips() {
        let hello = parse_hello(hello_frame(7, "127.0.0.1:3888"));
        assert_eq!(
            hello,
            Ok(Hello {
                sid: 7,
                dial_back: Some("127.0.0.1:3888".into())
            })
        );
    }

    #[test]
    fn wildcard_and_empty_addresses_give_no_dial_back() {
        for address in ["", "0.0.0.0:3888", "[::]:3888", "127.0.0.1:0"] {
            let hello = parse_hello(hello_frame(1, address));
            assert_eq!(hello.map(|h| h.dial_back), Ok(None), "{address:?}");
        }
        let named = parse_hello(hello_frame(1, "zk1.example:3888"));
        assert_eq!(
            named.map(|h| h.dial_back),
            Ok(Some("zk1.example:3888".into()))
        );
    }

    #[test]
    fn other_first_frames_and_long_addresses_are_rejected() {
        let notification = ElectionFrame {
            kind: Some(election_frame::Kind::Notification(Notification::default())),
        };
        assert_eq!(parse_hello(notification), Err(HelloError::NotAHello));
        assert_eq!(
            parse_hello(ElectionFrame { kind: None }),
            Err(HelloError::NotAHello)
        );
        let long = "a".repeat(MAX_HELLO_ADDRESS_LEN + 1);
        assert_eq!(
            parse_hello(hello_frame(1, &long)),
            Err(HelloError::AddressTooLong(MAX_HELLO_ADDRESS_LEN + 1))
        );
    }
}
