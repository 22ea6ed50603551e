//! Helpers shared by the integration tests.

use bytes::{Bytes, BytesMut};
use tokio_util::codec::Decoder;
use zk_proto::FrameCodec;

/// Bytes from a hex dump: whitespace and `|` separators are ignored, and `"text"` stands for
/// the text's bytes.
pub fn hex(dump: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut parts = dump.split('"');
    let mut in_text = false;
    for part in parts.by_ref() {
        if in_text {
            out.extend_from_slice(part.as_bytes());
        } else {
            let digits: String = part.chars().filter(char::is_ascii_hexdigit).collect();
            assert!(digits.len().is_multiple_of(2), "odd hex digits in {part:?}");
            for pair in digits.as_bytes().chunks(2) {
                let text = std::str::from_utf8(pair).unwrap();
                out.push(u8::from_str_radix(text, 16).unwrap());
            }
        }
        in_text = !in_text;
    }
    out
}

/// The payload of one whole frame, cut by [`FrameCodec`]; the frame must hold nothing else.
pub fn payload(frame: &[u8]) -> Bytes {
    let mut buf = BytesMut::from(frame);
    let payload = FrameCodec::default()
        .decode(&mut buf)
        .expect("valid frame")
        .expect("complete frame");
    assert!(buf.is_empty(), "{} bytes after the frame", buf.len());
    payload
}
