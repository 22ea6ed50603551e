//! Checks shared by the unit tests of every module.

use std::fmt::Debug;

use bytes::Bytes;

use crate::error::DecodeError;
use crate::jute::{Decode, Encode, Reader, to_bytes};

/// `decode(encode(value)) == value`, consuming every byte; returns the encoding.
pub fn assert_round_trip<T: Encode + Decode + PartialEq + Debug>(value: &T) -> Bytes {
    let bytes = to_bytes(value);
    let mut r = Reader::new(bytes.clone());
    let decoded = T::decode(&mut r);
    assert_eq!(decoded.as_ref(), Ok(value), "bytes: {bytes:02x?}");
    assert!(r.is_empty(), "{} bytes left over", r.remaining());
    bytes
}

/// Every strict prefix of `bytes` is refused (for records whose every field is mandatory).
pub fn assert_prefixes_fail<T: Decode + Debug>(bytes: &Bytes) {
    for cut in 0..bytes.len() {
        let result = T::decode(&mut Reader::new(bytes.slice(..cut)));
        assert!(
            result.is_err(),
            "prefix of {cut}/{} bytes decoded: {result:?}",
            bytes.len()
        );
    }
}

/// Decoding arbitrary bytes must not panic, and whatever decodes must re-encode to a value
/// that decodes to the same thing.
pub fn assert_redecodes<T: Encode + Decode + PartialEq + Debug>(
    bytes: &[u8],
) -> Result<T, DecodeError> {
    let decoded = T::decode(&mut Reader::new(Bytes::copy_from_slice(bytes)));
    if let Ok(value) = &decoded {
        assert_round_trip(value);
    }
    decoded
}
