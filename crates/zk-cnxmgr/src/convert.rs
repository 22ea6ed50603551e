//! Mapping between the election's [`Notification`] and its protobuf form.
//!
//! Sids and zxids are Java longs: they keep their bit patterns across the `u64`/`i64` casts.
//! An empty `config` on the wire means "no configuration".

use std::sync::Arc;

use thiserror::Error;
use zk_election::{Notification, ServerState, Sid};
use zk_proto::peer;

/// Why a received notification cannot be handed to the election.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConvertError {
    /// The state code is outside 0..=3 (upstream rule R4 drops such messages).
    #[error("unknown server state code {0}")]
    UnknownState(i32),
}

/// The protobuf form of `n`.
pub fn to_wire(n: &Notification) -> peer::Notification {
    peer::Notification {
        state: n.state.wire(),
        leader: sid_to_wire(n.leader),
        zxid: n.zxid,
        election_epoch: n.election_epoch,
        peer_epoch: n.peer_epoch,
        version: n.version,
        config: n
            .config
            .as_deref()
            .map(bytes::Bytes::copy_from_slice)
            .unwrap_or_default(),
    }
}

/// The election's form of a received notification.
pub fn from_wire(n: peer::Notification) -> Result<Notification, ConvertError> {
    let state = ServerState::from_wire(n.state).ok_or(ConvertError::UnknownState(n.state))?;
    let config = (!n.config.is_empty()).then(|| Arc::<[u8]>::from(&n.config[..]));
    Ok(Notification {
        state,
        leader: sid_from_wire(n.leader),
        zxid: n.zxid,
        election_epoch: n.election_epoch,
        peer_epoch: n.peer_epoch,
        version: n.version,
        config,
    })
}

/// A sid as the `int64` of the wire.
pub fn sid_to_wire(sid: Sid) -> i64 {
    sid as i64
}

/// A wire `int64` as a sid.
pub fn sid_from_wire(sid: i64) -> Sid {
    sid as Sid
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_election::{NO_LEADER, Vote};

    fn sample(config: Option<&[u8]>) -> Notification {
        Notification::new(
            ServerState::Following,
            Vote {
                leader: 3,
                zxid: 0x1_0000_0005,
                election_epoch: 7,
                peer_epoch: 1,
            },
            config.map(Arc::from),
        )
    }

    #[test]
    fn round_trips_every_field() {
        let n = sample(Some(b"server.1=a:1:2\nversion=100000000"));
        let wire = to_wire(&n);
        assert_eq!(wire.state, 1);
        assert_eq!(wire.version, 2);
        assert_eq!(from_wire(wire), Ok(n));
    }

    #[test]
    fn empty_config_is_none_both_ways() {
        let none = sample(None);
        assert!(to_wire(&none).config.is_empty());
        assert_eq!(from_wire(to_wire(&none)), Ok(none.clone()));
        let empty = sample(Some(b""));
        assert_eq!(from_wire(to_wire(&empty)), Ok(none));
    }

    #[test]
    fn placeholder_leader_keeps_its_bit_pattern() {
        let mut n = sample(None);
        n.leader = NO_LEADER;
        let wire = to_wire(&n);
        assert_eq!(wire.leader, i64::MIN);
        assert_eq!(from_wire(wire).map(|n| n.leader), Ok(NO_LEADER));
    }

    #[test]
    fn unknown_state_codes_are_rejected() {
        for code in [-1, 4, i32::MAX] {
            let mut wire = to_wire(&sample(None));
            wire.state = code;
            assert_eq!(from_wire(wire), Err(ConvertError::UnknownState(code)));
        }
    }
}
