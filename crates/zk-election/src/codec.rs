//! The reference byte layout of a notification (spec §2.1), big-endian:
//! `int state, long leader, long zxid, long electionEpoch, long peerEpoch, int version,
//! int configLength, config bytes` (44 + configLength bytes).
//!
//! Older forms are accepted on input: exactly 28 bytes (no peer epoch: it is derived from the
//! zxid) and exactly 40 bytes (peer epoch, then a version int that upstream does not read, no
//! config).

use std::sync::Arc;

use thiserror::Error;

use crate::types::{Notification, ServerState, epoch_of};

/// Size of the oldest accepted form (no peer epoch).
pub const LEGACY_28_LEN: usize = 28;
/// Size of the form with a peer epoch but no version.
pub const LEGACY_40_LEN: usize = 40;
/// Size of the current form without its config bytes.
pub const HEADER_LEN: usize = 44;

/// Why a notification payload was dropped (rules R0, R1, R4).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// Fewer than 28 bytes (R0).
    #[error("notification too short: {0} bytes")]
    TooShort(usize),
    /// The body ends before a field it announces (R1).
    #[error("notification truncated: needs {needed} bytes, has {len}")]
    Truncated {
        /// Bytes required by the fields read so far.
        needed: usize,
        /// Bytes present.
        len: usize,
    },
    /// The config length is negative or larger than the whole message (R1).
    #[error("invalid config length {0}")]
    BadConfigLength(i32),
    /// The state code is not 0..=3 (R4).
    #[error("unknown server state {0}")]
    UnknownState(i32),
}

/// A big-endian reader over a payload that reports truncation instead of panicking.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let end = self.pos + N;
        let slice = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated {
            needed: end,
            len: self.buf.len(),
        })?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        self.pos = end;
        Ok(out)
    }

    fn i32(&mut self) -> Result<i32, DecodeError> {
        self.take::<4>().map(i32::from_be_bytes)
    }

    fn i64(&mut self) -> Result<i64, DecodeError> {
        self.take::<8>().map(i64::from_be_bytes)
    }

    fn bytes(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos + len;
        let slice = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated {
            needed: end,
            len: self.buf.len(),
        })?;
        self.pos = end;
        Ok(slice)
    }
}

impl Notification {
    /// Number of bytes [`Notification::encode_into`] writes.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.config.as_ref().map_or(0, |c| c.len())
    }

    /// Appends the current (44 + config bytes) form. The version field is always written as 2
    /// and a missing config as an empty one, because that is the only form we produce.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let config: &[u8] = self.config.as_deref().unwrap_or(&[]);
        out.reserve(HEADER_LEN + config.len());
        out.extend_from_slice(&self.state.wire().to_be_bytes());
        out.extend_from_slice(&(self.leader as i64).to_be_bytes());
        out.extend_from_slice(&self.zxid.to_be_bytes());
        out.extend_from_slice(&self.election_epoch.to_be_bytes());
        out.extend_from_slice(&self.peer_epoch.to_be_bytes());
        out.extend_from_slice(&crate::types::NOTIFICATION_VERSION.to_be_bytes());
        // A config longer than i32::MAX cannot be framed (frames are <= 512 KiB); saturate so the
        // receiver rejects it rather than misreading the length.
        let len = i32::try_from(config.len()).unwrap_or(i32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(config);
    }

    /// The current form as a fresh buffer.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    /// Parses any accepted form; trailing bytes after the announced config are ignored, like
    /// upstream.
    pub fn decode(payload: &[u8]) -> Result<Notification, DecodeError> {
        let len = payload.len();
        if len < LEGACY_28_LEN {
            return Err(DecodeError::TooShort(len));
        }
        let mut r = Reader {
            buf: payload,
            pos: 0,
        };
        let state_code = r.i32()?;
        let leader = r.i64()? as u64;
        let zxid = r.i64()?;
        let election_epoch = r.i64()?;
        let (peer_epoch, version) = if len == LEGACY_28_LEN {
            (epoch_of(zxid), 0)
        } else if len == LEGACY_40_LEN {
            (r.i64()?, 0)
        } else {
            (r.i64()?, r.i32()?)
        };
        let config = if version > 1 {
            let config_len = r.i32()?;
            let size = usize::try_from(config_len)
                .ok()
                .filter(|&n| n <= len)
                .ok_or(DecodeError::BadConfigLength(config_len))?;
            Some(Arc::<[u8]>::from(r.bytes(size)?))
        } else {
            None
        };
        let state =
            ServerState::from_wire(state_code).ok_or(DecodeError::UnknownState(state_code))?;
        Ok(Notification {
            state,
            leader,
            zxid,
            election_epoch,
            peer_epoch,
            version,
            config,
        })
    }
}

/// The `version=<hex>` of a configuration text (spec §11.1), or `None` if it has none or it
/// does not parse. Configurations without a version line have version 0 upstream; callers
/// decide what a missing line means.
pub fn config_version(config: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(config).ok()?;
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("version="))
        .find_map(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .map(|v| v as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{NO_LEADER, NONE_I64, Vote};

    fn sample(config: Option<&[u8]>) -> Notification {
        Notification::new(
            ServerState::Following,
            Vote {
                leader: 3,
                zxid: 0x5_0000_0007,
                election_epoch: 9,
                peer_epoch: 5,
            },
            config.map(Arc::from),
        )
    }

    #[test]
    fn current_form_round_trips() {
        let n = sample(Some(b"server.1=a:1:2\nversion=100000000"));
        let bytes = n.encode();
        assert_eq!(bytes.len(), 44 + 32);
        assert_eq!(Notification::decode(&bytes).unwrap(), n);
    }

    #[test]
    fn sentinel_values_round_trip() {
        let mut n = sample(Some(b""));
        n.leader = NO_LEADER;
        n.zxid = NONE_I64;
        n.peer_epoch = NONE_I64;
        assert_eq!(Notification::decode(&n.encode()).unwrap(), n);
    }

    #[test]
    fn legacy_forms_are_accepted() {
        let bytes = sample(None).encode();
        let n28 = Notification::decode(&bytes[..28]).unwrap();
        assert_eq!(
            n28.peer_epoch, 5,
            "28-byte form derives the epoch from the zxid"
        );
        assert_eq!((n28.version, n28.config.is_none()), (0, true));
        let mut forty = bytes[..28].to_vec();
        forty.extend_from_slice(&77i64.to_be_bytes());
        // The old 40-byte writer put version 1 here; readers of that form ignore it.
        forty.extend_from_slice(&1i32.to_be_bytes());
        let n40 = Notification::decode(&forty).unwrap();
        assert_eq!((n40.peer_epoch, n40.version, n40.config), (77, 0, None));
    }

    #[test]
    fn version_one_carries_no_config() {
        let mut bytes = sample(None).encode();
        bytes[36..40].copy_from_slice(&1i32.to_be_bytes());
        let n = Notification::decode(&bytes).unwrap();
        assert_eq!((n.version, n.config), (1, None));
    }

    #[test]
    fn malformed_payloads_are_rejected() {
        let bytes = sample(Some(b"abc")).encode();
        let cases: Vec<(Vec<u8>, DecodeError)> = vec![
            (bytes[..27].to_vec(), DecodeError::TooShort(27)),
            (
                bytes[..36].to_vec(),
                DecodeError::Truncated {
                    needed: 40,
                    len: 36,
                },
            ),
            (
                bytes[..42].to_vec(),
                DecodeError::Truncated {
                    needed: 44,
                    len: 42,
                },
            ),
            (
                bytes[..45].to_vec(),
                DecodeError::Truncated {
                    needed: 47,
                    len: 45,
                },
            ),
            (
                {
                    let mut b = bytes.clone();
                    b[40..44].copy_from_slice(&(-1i32).to_be_bytes());
                    b
                },
                DecodeError::BadConfigLength(-1),
            ),
            (
                {
                    let mut b = bytes.clone();
                    b[40..44].copy_from_slice(&1000i32.to_be_bytes());
                    b
                },
                DecodeError::BadConfigLength(1000),
            ),
            (
                {
                    let mut b = bytes.clone();
                    b[0..4].copy_from_slice(&4i32.to_be_bytes());
                    b
                },
                DecodeError::UnknownState(4),
            ),
        ];
        for (payload, want) in cases {
            assert_eq!(Notification::decode(&payload), Err(want));
        }
    }

    #[test]
    fn config_version_parses_hex_line() {
        assert_eq!(config_version(b"server.1=a:1:2\nversion=1a\n"), Some(0x1a));
        assert_eq!(config_version(b"server.1=a:1:2\n"), None);
        assert_eq!(config_version(&[0xff, 0xfe]), None);
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..128)) {
            let _ = Notification::decode(&bytes);
        }

        #[test]
        fn encode_decode_round_trip(
            state in 0i32..4, leader: u64, zxid: i64, round: i64, epoch: i64,
            config in proptest::option::of(proptest::collection::vec(proptest::num::u8::ANY, 0..64)),
        ) {
            let n = Notification {
                state: ServerState::from_wire(state).unwrap(),
                leader, zxid, election_epoch: round, peer_epoch: epoch, version: 2,
                config: Some(Arc::from(config.unwrap_or_default())),
            };
            proptest::prop_assert_eq!(Notification::decode(&n.encode()).unwrap(), n);
        }
    }
}
