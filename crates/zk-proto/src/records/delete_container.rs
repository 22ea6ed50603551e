//! deleteContainer (20): the one body written by hand, in two layouts.
//!
//! 3.9+ sends the path as a length-prefixed buffer; ≤3.8 sent the raw UTF-8 path as the whole
//! body. The layout is kept so that both re-encode to the bytes received.

use bytes::BytesMut;

use crate::error::DecodeError;
use crate::jute::{Decode, Encode, Reader, put_ustring};

/// How a deleteContainer body was (or is to be) written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteContainerLayout {
    /// 3.9+: `int len` + UTF-8 path.
    LengthPrefixed,
    /// ≤3.8: the whole body is the UTF-8 path.
    Raw,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteContainerRequest {
    pub path: String,
    pub layout: DeleteContainerLayout,
}

impl Encode for DeleteContainerRequest {
    fn encode(&self, buf: &mut BytesMut) {
        match self.layout {
            DeleteContainerLayout::LengthPrefixed => put_ustring(buf, Some(&self.path)),
            DeleteContainerLayout::Raw => buf.extend_from_slice(self.path.as_bytes()),
        }
    }
}

impl Decode for DeleteContainerRequest {
    /// Picks the 3.9 layout when the first four bytes are a length that is allowed and equal
    /// to the rest of the body; otherwise the body is a raw path. A real path starts with `/`
    /// (0x2f), which as a length would exceed any frame, so the two cannot be confused.
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let prefixed = r.peek_i32().is_some_and(|len| {
            usize::try_from(len)
                .is_ok_and(|len| len <= r.max_len() && Some(len) == r.remaining().checked_sub(4))
        });
        let (path, layout) = if prefixed {
            let path = r.read_ustring()?.ok_or(DecodeError::NullNotAllowed {
                field: "DeleteContainerRequest.path",
            })?;
            (path, DeleteContainerLayout::LengthPrefixed)
        } else {
            let raw = r.read_rest();
            let path = String::from_utf8(Vec::from(raw)).map_err(|_| DecodeError::InvalidUtf8)?;
            (path, DeleteContainerLayout::Raw)
        };
        Ok(Self { path, layout })
    }
}

#[cfg(test)]
mod arb {
    use proptest::prelude::*;

    use super::{DeleteContainerLayout, DeleteContainerRequest};
    use crate::jute::arb::ArbField;

    impl ArbField for DeleteContainerRequest {
        /// Raw paths start with `/`, as real paths do (an arbitrary raw string could look
        /// like a length prefix, the one documented ambiguity).
        fn arb() -> BoxedStrategy<Self> {
            prop_oneof![
                String::arb().prop_map(|path| DeleteContainerRequest {
                    path,
                    layout: DeleteContainerLayout::LengthPrefixed,
                }),
                "/\\PC{0,16}".prop_map(|path| DeleteContainerRequest {
                    path,
                    layout: DeleteContainerLayout::Raw,
                }),
            ]
            .boxed()
        }
    }
}
