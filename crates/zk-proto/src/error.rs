//! Why a sequence of bytes is not a valid ZooKeeper message.
//!
//! The variants are precise so that a server can map them to the reference behaviour: an
//! unknown opcode is answered with `Unimplemented`, every other body error with
//! `MarshallingError`, and a bad frame length closes the connection.

/// A decoding failure. Every message names what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended before a field was complete.
    #[error("unexpected end of input: needed {needed} bytes, {remaining} remaining")]
    UnexpectedEnd { needed: usize, remaining: usize },

    /// A length or count below -1 (-1 alone means null).
    #[error("negative length {0}")]
    NegativeLength(i32),

    /// A buffer/string length above the configured limit (jute.maxbuffer + extrasize).
    #[error("length {len} exceeds the limit of {max} bytes")]
    LengthTooLarge { len: usize, max: usize },

    /// A vector count that cannot fit in the bytes left, refused before reserving memory.
    #[error("vector of {count} elements needs at least {needed} bytes, {remaining} remaining")]
    VectorTooLong {
        count: usize,
        needed: usize,
        remaining: usize,
    },

    /// A ustring whose bytes are not UTF-8.
    #[error("string is not valid UTF-8")]
    InvalidUtf8,

    /// A null (-1) buffer or string where the protocol needs a value (e.g. a request path).
    #[error("{field} must not be null")]
    NullNotAllowed { field: &'static str },

    /// A boolean byte other than 0 or 1.
    #[error("invalid boolean byte {0:#04x}")]
    InvalidBool(u8),

    /// An opcode that ZooKeeper does not define, or one that is not valid where it was found.
    #[error("unknown or invalid opcode {0}")]
    UnknownOpCode(i32),

    /// A number outside the values of a protocol enum (create flags, watch modes, ...).
    #[error("{value} is not a valid {kind}")]
    UnknownValue { kind: &'static str, value: i32 },

    /// A multi request with both read ops (getData/getChildren) and write ops.
    #[error("multi request mixes read and write operations")]
    MixedMulti,

    /// A multi header that contradicts its position or its body.
    #[error("inconsistent multi header")]
    BadMultiHeader,

    /// A frame length above the configured maximum (jute.maxbuffer).
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge { len: usize, max: usize },
}
