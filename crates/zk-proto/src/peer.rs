//! The protocol between the members of an ensemble (`proto/zk_peer.proto`, package
//! `zk.peer.v1`): election notifications over the `Election.Connect` stream and the ZAB
//! leader-learner stream `Quorum.Follow`.
//!
//! Generated at build time by `tonic-prost-build` (see `build.rs`): prost messages, plus
//! [`election_client`]/[`election_server`] and [`quorum_client`]/[`quorum_server`].
//! Clients have no `connect(address)` constructor (it would clash with the `Connect` rpc):
//! build a `tonic::transport::Channel` from an `Endpoint` and pass it to `new`.

#![allow(
    missing_docs,
    missing_debug_implementations,
    clippy::all,
    clippy::pedantic,
    reason = "generated code"
)]

include!(concat!(env!("OUT_DIR"), "/zk.peer.v1.rs"));

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn election_frames_round_trip_through_protobuf() {
        let frames = [
            ElectionFrame {
                kind: Some(election_frame::Kind::Hello(ElectionHello {
                    sid: 3,
                    election_address: "127.0.0.1:3888".into(),
                })),
            },
            ElectionFrame {
                kind: Some(election_frame::Kind::Notification(Notification {
                    state: 2,
                    leader: 3,
                    zxid: 0x1_0000_0002,
                    election_epoch: 4,
                    peer_epoch: 1,
                    version: 2,
                    config: bytes::Bytes::from_static(b"version=100000000"),
                })),
            },
        ];
        for frame in frames {
            let bytes = frame.encode_to_vec();
            assert_eq!(ElectionFrame::decode(bytes.as_slice()), Ok(frame));
        }
    }

    #[test]
    fn truncated_frames_are_errors() {
        let frame = ElectionFrame {
            kind: Some(election_frame::Kind::Hello(ElectionHello {
                sid: 1,
                election_address: "a:1".into(),
            })),
        };
        let bytes = frame.encode_to_vec();
        let truncated = bytes.get(..bytes.len() - 1).unwrap_or_default();
        assert!(ElectionFrame::decode(truncated).is_err());
    }
}
