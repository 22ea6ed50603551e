//! ZooKeeper's client wire format (jute), byte for byte.
//!
//! * [`jute`]: primitives, the [`Encode`]/[`Decode`] traits and the bounded [`Reader`];
//! * [`records`]: every record of the client protocol (re-exported here);
//! * [`consts`]: opcodes, error codes, event types, states, modes, special xids;
//! * [`request::Request`] / [`response::Response`]: typed bodies by opcode;
//! * [`multi`]: multi/multiRead requests and responses;
//! * [`codec::FrameCodec`]: length-prefixed frames for `tokio_util::codec`;
//! * [`fourlw::FourLetterWord`]: admin commands that can replace the first frame.
//! * `peer` (feature `peer`): the generated protobuf/gRPC protocol between ensemble members.
//!
//! Decoding never panics and never trusts a length: see [`jute::Reader`].

pub mod codec;
pub mod consts;
pub mod error;
pub mod fourlw;
pub mod jute;
pub mod multi;
#[cfg(feature = "peer")]
pub mod peer;
pub mod records;
pub mod request;
pub mod response;

#[cfg(test)]
mod test_util;

pub use codec::{DEFAULT_MAX_FRAME, FrameCodec, FrameError};
pub use consts::{
    AUTH_XID, AddWatchMode, CreateMode, ErrorCode, EventType, KeeperState, NOTIFICATION_XID,
    OpCode, PING_XID, Perms, SET_WATCHES_XID, WatcherType,
};
pub use error::DecodeError;
pub use fourlw::FourLetterWord;
pub use jute::{Decode, Encode, Reader};
pub use multi::{MultiOp, MultiRequest, MultiResponse, MultiResult};
pub use records::*;
pub use request::Request;
pub use response::Response;

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
#[derive(Debug)]
pub struct ReadmeDoctests;
