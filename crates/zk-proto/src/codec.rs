//! Framing: every message after the first four bytes is `i32 length` + payload (spec §1).
//!
//! [`FrameCodec`] plugs into `tokio_util::codec` to cut a byte stream into payloads;
//! [`write_frame`] encodes a message straight into an output buffer and patches its length in
//! afterwards, so replies are never copied.

use std::io;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::error::DecodeError;
use crate::jute::Encode;

pub use crate::jute::DEFAULT_MAX_FRAME;

const LEN_PREFIX: usize = 4;

/// Why a stream of frames cannot go on. Either way the connection should be closed.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// A negative or oversized frame length.
    #[error("bad frame: {0}")]
    Decode(#[from] DecodeError),
}

/// Checks a received frame length as the Java server does: negative or above `max_frame`
/// (jute.maxbuffer) is refused. Exposed for servers that read the first four bytes
/// themselves (to tell a four-letter word from a ConnectRequest length).
pub fn check_frame_len(raw: i32, max_frame: usize) -> Result<usize, DecodeError> {
    let len = usize::try_from(raw).map_err(|_| DecodeError::NegativeLength(raw))?;
    if len > max_frame {
        return Err(DecodeError::FrameTooLarge {
            len,
            max: max_frame,
        });
    }
    Ok(len)
}

/// Length-prefixed frames, limited to `max_frame` payload bytes in both directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameCodec {
    max_frame: usize,
}

impl FrameCodec {
    /// `max_frame` is ZooKeeper's jute.maxbuffer ([`DEFAULT_MAX_FRAME`] by default).
    pub fn new(max_frame: usize) -> Self {
        Self { max_frame }
    }

    pub fn max_frame(&self) -> usize {
        self.max_frame
    }
}

impl Default for FrameCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME)
    }
}

impl Decoder for FrameCodec {
    type Item = Bytes;
    type Error = FrameError;

    /// Yields one payload (without its length) once it has fully arrived. The length is
    /// checked as soon as its four bytes are there, before waiting for the payload.
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        let Some(prefix) = src.get(..LEN_PREFIX) else {
            return Ok(None);
        };
        let mut prefix_bytes = [0u8; LEN_PREFIX];
        prefix_bytes.copy_from_slice(prefix);
        let len = check_frame_len(i32::from_be_bytes(prefix_bytes), self.max_frame)?;
        let total = LEN_PREFIX + len;
        if src.len() < total {
            src.reserve(total - src.len());
            return Ok(None);
        }
        src.advance(LEN_PREFIX);
        Ok(Some(src.split_to(len).freeze()))
    }
}

impl<T: AsRef<[u8]>> Encoder<T> for FrameCodec {
    type Error = FrameError;

    /// Writes length + payload. A payload above `max_frame` is refused: the peer would drop
    /// the connection on it anyway.
    fn encode(&mut self, item: T, dst: &mut BytesMut) -> Result<(), FrameError> {
        let payload = item.as_ref();
        let len = i32::try_from(payload.len())
            .ok()
            .filter(|_| payload.len() <= self.max_frame)
            .ok_or(DecodeError::FrameTooLarge {
                len: payload.len(),
                max: self.max_frame,
            })?;
        dst.reserve(LEN_PREFIX + payload.len());
        dst.put_i32(len);
        dst.put_slice(payload);
        Ok(())
    }
}

/// Appends a frame to `out`: reserves the length, lets `encode_payload` write the payload in
/// place, then patches the length in. Returns the payload length, which callers may compare
/// with the peer's limit. (A payload over `i32::MAX` bytes cannot be expressed; its length
/// field saturates, and every peer refuses such a frame as too large.)
pub fn write_frame(out: &mut BytesMut, encode_payload: impl FnOnce(&mut BytesMut)) -> usize {
    let start = out.len();
    out.put_i32(0);
    encode_payload(out);
    let len = out.len() - start - LEN_PREFIX;
    let wire_len = i32::try_from(len).unwrap_or(i32::MAX);
    if let Some(slot) = out.get_mut(start..start + LEN_PREFIX) {
        slot.copy_from_slice(&wire_len.to_be_bytes());
    }
    len
}

/// A whole frame holding one encoded record.
pub fn frame(payload: &(impl Encode + ?Sized)) -> BytesMut {
    let mut out = BytesMut::new();
    write_frame(&mut out, |buf| payload.encode(buf));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_frame_patches_the_length_after_encoding() {
        let mut out = BytesMut::from(&b"xy"[..]);
        let len = write_frame(&mut out, |buf| buf.put_slice(b"hello"));
        assert_eq!(len, 5);
        assert_eq!(&out[..], b"xy\x00\x00\x00\x05hello");
    }

    #[test]
    fn frame_of_empty_payload_is_just_a_zero_length() {
        let out = write_frame(&mut BytesMut::new(), |_| {});
        assert_eq!(out, 0);
        assert_eq!(
            &frame(&crate::records::ErrorResponse { err: 7 })[..],
            b"\0\0\0\x04\0\0\0\x07"
        );
    }

    #[test]
    fn frame_length_checks() {
        assert_eq!(check_frame_len(0, 10), Ok(0));
        assert_eq!(check_frame_len(10, 10), Ok(10));
        assert_eq!(
            check_frame_len(11, 10),
            Err(DecodeError::FrameTooLarge { len: 11, max: 10 })
        );
        assert_eq!(
            check_frame_len(-1, 10),
            Err(DecodeError::NegativeLength(-1))
        );
    }
}
