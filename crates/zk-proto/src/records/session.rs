//! Session-level records: the handshake, the headers in front of every message, auth,
//! notifications and watch re-registration.

use bytes::{Bytes, BytesMut};

use crate::error::DecodeError;
use crate::jute::{Decode, Encode, Field, Reader, jute_record, put_bool};

/// The first client frame (no RequestHeader), spec §4.1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: i64,
    pub timeout: i32,
    pub session_id: i64,
    pub passwd: Bytes,
    /// `None`: an old (≤3.3) client that sent no readOnly byte; the reply must then leave it
    /// out as well.
    pub read_only: Option<bool>,
}

/// Reads the optional trailing readOnly byte: absent when nothing is left.
fn read_optional_bool(r: &mut Reader) -> Result<Option<bool>, DecodeError> {
    if r.is_empty() {
        Ok(None)
    } else {
        r.read_bool().map(Some)
    }
}

impl Encode for ConnectRequest {
    fn encode(&self, buf: &mut BytesMut) {
        self.protocol_version.write_field(buf);
        self.last_zxid_seen.write_field(buf);
        self.timeout.write_field(buf);
        self.session_id.write_field(buf);
        self.passwd.write_field(buf);
        if let Some(read_only) = self.read_only {
            put_bool(buf, read_only);
        }
    }
}

impl Decode for ConnectRequest {
    /// Bytes after readOnly are ignored, as the Java server does.
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(Self {
            protocol_version: r.read_i32()?,
            last_zxid_seen: r.read_i64()?,
            timeout: r.read_i32()?,
            session_id: r.read_i64()?,
            passwd: Bytes::read_field(r, "ConnectRequest.passwd")?,
            read_only: read_optional_bool(r)?,
        })
    }
}

/// The first server frame (no ReplyHeader), spec §4.3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    pub timeout: i32,
    pub session_id: i64,
    pub passwd: Bytes,
    /// `None` when answering an old client that sent no readOnly byte.
    pub read_only: Option<bool>,
}

impl Encode for ConnectResponse {
    fn encode(&self, buf: &mut BytesMut) {
        self.protocol_version.write_field(buf);
        self.timeout.write_field(buf);
        self.session_id.write_field(buf);
        self.passwd.write_field(buf);
        if let Some(read_only) = self.read_only {
            put_bool(buf, read_only);
        }
    }
}

impl Decode for ConnectResponse {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(Self {
            protocol_version: r.read_i32()?,
            timeout: r.read_i32()?,
            session_id: r.read_i64()?,
            passwd: Bytes::read_field(r, "ConnectResponse.passwd")?,
            read_only: read_optional_bool(r)?,
        })
    }
}

#[cfg(test)]
mod arb_connect {
    use proptest::prelude::*;

    use super::{ConnectRequest, ConnectResponse};
    use crate::jute::arb::ArbField;

    impl ArbField for ConnectRequest {
        fn arb() -> BoxedStrategy<Self> {
            (
                any::<i32>(),
                any::<i64>(),
                any::<i32>(),
                any::<i64>(),
                bytes::Bytes::arb(),
                proptest::option::of(any::<bool>()),
            )
                .prop_map(
                    |(protocol_version, last_zxid_seen, timeout, session_id, passwd, read_only)| {
                        Self {
                            protocol_version,
                            last_zxid_seen,
                            timeout,
                            session_id,
                            passwd,
                            read_only,
                        }
                    },
                )
                .boxed()
        }
    }

    impl ArbField for ConnectResponse {
        fn arb() -> BoxedStrategy<Self> {
            (
                any::<i32>(),
                any::<i32>(),
                any::<i64>(),
                bytes::Bytes::arb(),
                proptest::option::of(any::<bool>()),
            )
                .prop_map(
                    |(protocol_version, timeout, session_id, passwd, read_only)| Self {
                        protocol_version,
                        timeout,
                        session_id,
                        passwd,
                        read_only,
                    },
                )
                .boxed()
        }
    }
}

jute_record! {
    /// In front of every client frame after the handshake.
    pub struct RequestHeader {
        pub xid: i32,
        pub op_code: i32,
    }
}

impl RequestHeader {
    /// Encoded size.
    pub const WIRE_SIZE: usize = 8;
}

jute_record! {
    /// In front of every server frame after the handshake.
    pub struct ReplyHeader {
        pub xid: i32,
        pub zxid: i64,
        pub err: i32,
    }
}

impl ReplyHeader {
    /// Encoded size.
    pub const WIRE_SIZE: usize = 16;
}

jute_record! {
    /// Body of a notification (xid -1).
    pub struct WatcherEvent {
        pub event_type: i32,
        pub state: i32,
        pub path: String,
    }
}

jute_record! {
    /// Body of an auth request (opcode 100). `auth_type` is ignored by the server.
    pub struct AuthPacket {
        pub auth_type: i32,
        pub scheme: String,
        pub auth: Option<bytes::Bytes>,
    }
}

jute_record! {
    /// Body of an error result, and of the addWatch reply (`ErrorResponse{0}`).
    pub struct ErrorResponse {
        pub err: i32,
    }
}

jute_record! {
    /// Header of each op and result inside a multi (spec §9).
    pub struct MultiHeader {
        pub op_type: i32,
        pub done: bool,
        pub err: i32,
    }
}

jute_record! {
    /// Watches a client re-registers after reconnecting (opcode 101).
    pub struct SetWatches {
        pub relative_zxid: i64,
        pub data_watches: Vec<String>,
        pub exist_watches: Vec<String>,
        pub child_watches: Vec<String>,
    }
}

jute_record! {
    /// SetWatches with persistent watches (opcode 105, 3.6+).
    pub struct SetWatches2 {
        pub relative_zxid: i64,
        pub data_watches: Vec<String>,
        pub exist_watches: Vec<String>,
        pub child_watches: Vec<String>,
        pub persistent_watches: Vec<String>,
        pub persistent_recursive_watches: Vec<String>,
    }
}

jute_record! {
    /// A SASL token from the client (opcode 102).
    pub struct GetSaslRequest {
        pub token: Option<bytes::Bytes>,
    }
}

jute_record! {
    /// A SASL token from the server; null on failure.
    pub struct SetSaslResponse {
        pub token: Option<bytes::Bytes>,
    }
}

jute_record! {
    /// The identities of the connection (whoAmI, opcode 107).
    pub struct WhoAmIResponse {
        pub client_info: Vec<super::ClientInfo>,
    }
}
