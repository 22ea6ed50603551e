//! Jute's binary archive: the primitives every ZooKeeper record is made of.
//!
//! All integers are big-endian. A `buffer` or `ustring` is an `i32` length and that many bytes,
//! with -1 meaning null; a `vector` is an `i32` count and that many elements, -1 meaning null.
//! Records are their fields one after another, with no tags or padding.
//!
//! Decoding is defensive because the input comes from the network: it never panics, never reads
//! past the data, and never reserves more memory than the input could fill (vector counts are
//! checked against the bytes left before any allocation).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::DecodeError;

/// The default `jute.maxbuffer` of ZooKeeper: the largest frame payload, 1 048 575 bytes.
pub const DEFAULT_MAX_FRAME: usize = 0xF_FFFF;

/// The default limit for one buffer or string inside a frame: the Java server allows
/// `jute.maxbuffer + zookeeper.jute.maxbuffer.extrasize`, and the extra size defaults to
/// `jute.maxbuffer`.
pub const DEFAULT_MAX_LEN: usize = 2 * DEFAULT_MAX_FRAME;

/// Writes a record in jute's binary form. Infallible: any in-memory value has an encoding.
pub trait Encode {
    fn encode(&self, buf: &mut BytesMut);
}

/// Reads a record in jute's binary form.
pub trait Decode: Sized {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError>;
}

/// Encodes a record into a fresh buffer (convenient in tests and for small messages).
pub fn to_bytes(value: &(impl Encode + ?Sized)) -> Bytes {
    let mut buf = BytesMut::new();
    value.encode(&mut buf);
    buf.freeze()
}

/// A cursor over received bytes. Buffers it returns are zero-copy slices of the input.
#[derive(Debug, Clone)]
pub struct Reader {
    data: Bytes,
    max_len: usize,
}

impl Reader {
    /// A reader with the default inner length limit ([`DEFAULT_MAX_LEN`]).
    pub fn new(data: Bytes) -> Self {
        Self::with_max_len(data, DEFAULT_MAX_LEN)
    }

    /// A reader that refuses buffers and strings longer than `max_len` bytes.
    pub fn with_max_len(data: Bytes, max_len: usize) -> Self {
        Self { data, max_len }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The limit for one buffer or string.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// The next four bytes as an `i32`, without consuming them.
    pub fn peek_i32(&self) -> Option<i32> {
        let first: [u8; 4] = self.data.get(..4)?.try_into().ok()?;
        Some(i32::from_be_bytes(first))
    }

    /// Consumes and returns everything left (for bodies that are not jute, such as the
    /// ≤3.8 deleteContainer body).
    pub fn read_rest(&mut self) -> Bytes {
        self.data.split_off(0)
    }

    fn need(&self, needed: usize) -> Result<(), DecodeError> {
        let remaining = self.remaining();
        if needed > remaining {
            return Err(DecodeError::UnexpectedEnd { needed, remaining });
        }
        Ok(())
    }

    /// `needed` raw bytes, zero-copy.
    pub fn read_raw(&mut self, needed: usize) -> Result<Bytes, DecodeError> {
        self.need(needed)?;
        Ok(self.data.split_to(needed))
    }

    pub fn read_byte(&mut self) -> Result<u8, DecodeError> {
        self.need(1)?;
        Ok(self.data.get_u8())
    }

    /// A jute boolean. Only 0 and 1 are accepted, so that a decoded frame re-encodes to the
    /// same bytes (the Java reader would take any non-zero byte as true).
    pub fn read_bool(&mut self) -> Result<bool, DecodeError> {
        match self.read_byte()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(DecodeError::InvalidBool(other)),
        }
    }

    pub fn read_i32(&mut self) -> Result<i32, DecodeError> {
        self.need(4)?;
        Ok(self.data.get_i32())
    }

    pub fn read_i64(&mut self) -> Result<i64, DecodeError> {
        self.need(8)?;
        Ok(self.data.get_i64())
    }

    /// A buffer/ustring length: `None` for null (-1), checked against the limit and the input.
    fn read_len(&mut self) -> Result<Option<usize>, DecodeError> {
        let raw = self.read_i32()?;
        if raw == -1 {
            return Ok(None);
        }
        let len = usize::try_from(raw).map_err(|_| DecodeError::NegativeLength(raw))?;
        if len > self.max_len {
            return Err(DecodeError::LengthTooLarge {
                len,
                max: self.max_len,
            });
        }
        self.need(len)?;
        Ok(Some(len))
    }

    /// A jute `buffer`; `None` is null (-1), which differs from empty.
    pub fn read_buffer(&mut self) -> Result<Option<Bytes>, DecodeError> {
        match self.read_len()? {
            None => Ok(None),
            Some(len) => Ok(Some(self.data.split_to(len))),
        }
    }

    /// A jute `ustring`; `None` is null (-1). Invalid UTF-8 is an error rather than being
    /// replaced, so that decoded values re-encode to the bytes received.
    pub fn read_ustring(&mut self) -> Result<Option<String>, DecodeError> {
        match self.read_buffer()? {
            None => Ok(None),
            Some(bytes) => String::from_utf8(Vec::from(bytes))
                .map(Some)
                .map_err(|_| DecodeError::InvalidUtf8),
        }
    }

    /// A jute `vector`. A null vector (-1) reads as empty: no client sends one, and the
    /// distinction never matters to the server. `min_elem_size` is the smallest encoding of
    /// one element; the count is checked against the input before memory is reserved.
    pub fn read_vec<T>(
        &mut self,
        min_elem_size: usize,
        mut read_elem: impl FnMut(&mut Reader) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let raw = self.read_i32()?;
        if raw == -1 {
            return Ok(Vec::new());
        }
        let count = usize::try_from(raw).map_err(|_| DecodeError::NegativeLength(raw))?;
        let needed = count.saturating_mul(min_elem_size.max(1));
        if needed > self.remaining() {
            return Err(DecodeError::VectorTooLong {
                count,
                needed,
                remaining: self.remaining(),
            });
        }
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            items.push(read_elem(self)?);
        }
        Ok(items)
    }
}

/// A length as jute writes it. Protocol values are bounded by the frame size (about 1 MiB),
/// so a length above `i32::MAX` cannot be sent by anyone; it is clamped rather than panicking.
fn wire_len(len: usize) -> i32 {
    i32::try_from(len).unwrap_or(i32::MAX)
}

pub fn put_byte(buf: &mut BytesMut, value: u8) {
    buf.put_u8(value);
}

pub fn put_bool(buf: &mut BytesMut, value: bool) {
    buf.put_u8(u8::from(value));
}

pub fn put_i32(buf: &mut BytesMut, value: i32) {
    buf.put_i32(value);
}

pub fn put_i64(buf: &mut BytesMut, value: i64) {
    buf.put_i64(value);
}

/// A jute `buffer`: `None` is written as null (-1).
pub fn put_buffer(buf: &mut BytesMut, value: Option<&[u8]>) {
    match value {
        None => buf.put_i32(-1),
        Some(bytes) => {
            buf.put_i32(wire_len(bytes.len()));
            buf.put_slice(bytes);
        }
    }
}

/// A jute `ustring`: `None` is written as null (-1).
pub fn put_ustring(buf: &mut BytesMut, value: Option<&str>) {
    put_buffer(buf, value.map(str::as_bytes));
}

/// A jute `vector`, each element written by `put_elem`.
pub fn put_vec<T>(buf: &mut BytesMut, items: &[T], mut put_elem: impl FnMut(&mut BytesMut, &T)) {
    buf.put_i32(wire_len(items.len()));
    for item in items {
        put_elem(buf, item);
    }
}

/// A value that can be a field of a record. Implemented for the jute primitives as Rust types
/// (`i32`, `i64`, `bool`, `String`, `Option<String>`, `Bytes`, `Option<Bytes>`, `Vec<T>`) and
/// for every record, so that records can be declared field by field.
pub trait Field: Sized {
    /// The smallest encoding, used to bound vector counts before allocating.
    const MIN_WIRE_SIZE: usize;

    /// Reads the field; `field` ("Record.field") names it in errors.
    fn read_field(r: &mut Reader, field: &'static str) -> Result<Self, DecodeError>;

    fn write_field(&self, buf: &mut BytesMut);
}

impl Field for i32 {
    const MIN_WIRE_SIZE: usize = 4;
    fn read_field(r: &mut Reader, _field: &'static str) -> Result<Self, DecodeError> {
        r.read_i32()
    }
    fn write_field(&self, buf: &mut BytesMut) {
        put_i32(buf, *self);
    }
}

impl Field for i64 {
    const MIN_WIRE_SIZE: usize = 8;
    fn read_field(r: &mut Reader, _field: &'static str) -> Result<Self, DecodeError> {
        r.read_i64()
    }
    fn write_field(&self, buf: &mut BytesMut) {
        put_i64(buf, *self);
    }
}

impl Field for bool {
    const MIN_WIRE_SIZE: usize = 1;
    fn read_field(r: &mut Reader, _field: &'static str) -> Result<Self, DecodeError> {
        r.read_bool()
    }
    fn write_field(&self, buf: &mut BytesMut) {
        put_bool(buf, *self);
    }
}

/// A ustring that must not be null (request paths and the like).
impl Field for String {
    const MIN_WIRE_SIZE: usize = 4;
    fn read_field(r: &mut Reader, field: &'static str) -> Result<Self, DecodeError> {
        r.read_ustring()?
            .ok_or(DecodeError::NullNotAllowed { field })
    }
    fn write_field(&self, buf: &mut BytesMut) {
        put_ustring(buf, Some(self));
    }
}

/// A ustring that may be null.
impl Field for Option<String> {
    const MIN_WIRE_SIZE: usize = 4;
    fn read_field(r: &mut Reader, _field: &'static str) -> Result<Self, DecodeError> {
        r.read_ustring()
    }
    fn write_field(&self, buf: &mut BytesMut) {
        put_ustring(buf, self.as_deref());
    }
}

/// A buffer that must not be null (session passwords).
impl Field for Bytes {
    const MIN_WIRE_SIZE: usize = 4;
    fn read_field(r: &mut Reader, field: &'static str) -> Result<Self, DecodeError> {
        r.read_buffer()?
            .ok_or(DecodeError::NullNotAllowed { field })
    }
    fn write_field(&self, buf: &mut BytesMut) {
        put_buffer(buf, Some(self));
    }
}

/// A buffer that may be null (node data: null and empty are different, spec §8.2).
impl Field for Option<Bytes> {
    const MIN_WIRE_SIZE: usize = 4;
    fn read_field(r: &mut Reader, _field: &'static str) -> Result<Self, DecodeError> {
        r.read_buffer()
    }
    fn write_field(&self, buf: &mut BytesMut) {
        put_buffer(buf, self.as_deref());
    }
}

/// A vector; null reads as empty (see [`Reader::read_vec`]).
impl<T: Field> Field for Vec<T> {
    const MIN_WIRE_SIZE: usize = 4;
    fn read_field(r: &mut Reader, field: &'static str) -> Result<Self, DecodeError> {
        r.read_vec(T::MIN_WIRE_SIZE, |r| T::read_field(r, field))
    }
    fn write_field(&self, buf: &mut BytesMut) {
        put_vec(buf, self, |buf, item| item.write_field(buf));
    }
}

/// Declares a jute record: the struct (with the derives every record has) and its
/// `Encode`, `Decode` and `Field` impls, fields in wire order.
macro_rules! jute_record {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $crate::jute::Encode for $name {
            fn encode(&self, buf: &mut ::bytes::BytesMut) {
                $( $crate::jute::Field::write_field(&self.$field, buf); )*
            }
        }

        impl $crate::jute::Decode for $name {
            fn decode(
                r: &mut $crate::jute::Reader,
            ) -> ::core::result::Result<Self, $crate::error::DecodeError> {
                Ok(Self {
                    $( $field: $crate::jute::Field::read_field(
                        r,
                        concat!(stringify!($name), ".", stringify!($field)),
                    )?, )*
                })
            }
        }

        impl $crate::jute::Field for $name {
            const MIN_WIRE_SIZE: usize = 0 $( + <$ty as $crate::jute::Field>::MIN_WIRE_SIZE )*;
            fn read_field(
                r: &mut $crate::jute::Reader,
                _field: &'static str,
            ) -> ::core::result::Result<Self, $crate::error::DecodeError> {
                <Self as $crate::jute::Decode>::decode(r)
            }
            fn write_field(&self, buf: &mut ::bytes::BytesMut) {
                $crate::jute::Encode::encode(self, buf);
            }
        }

        #[cfg(test)]
        impl $crate::jute::arb::ArbField for $name {
            fn arb() -> ::proptest::strategy::BoxedStrategy<Self> {
                use ::proptest::strategy::Strategy as _;
                ( $( <$ty as $crate::jute::arb::ArbField>::arb(), )* )
                    .prop_map(|( $( $field, )* )| Self { $( $field, )* })
                    .boxed()
            }
        }
    };
}
pub(crate) use jute_record;

/// proptest strategies for every field type, so each record gets one from its declaration.
#[cfg(test)]
pub(crate) mod arb {
    use bytes::Bytes;
    use proptest::prelude::*;

    pub trait ArbField: Sized + std::fmt::Debug {
        fn arb() -> BoxedStrategy<Self>;
    }

    impl ArbField for i32 {
        fn arb() -> BoxedStrategy<Self> {
            any::<i32>().boxed()
        }
    }

    impl ArbField for i64 {
        fn arb() -> BoxedStrategy<Self> {
            any::<i64>().boxed()
        }
    }

    impl ArbField for bool {
        fn arb() -> BoxedStrategy<Self> {
            any::<bool>().boxed()
        }
    }

    impl ArbField for String {
        fn arb() -> BoxedStrategy<Self> {
            prop_oneof!["/[a-z0-9/]{0,12}", any::<String>(),].boxed()
        }
    }

    impl ArbField for Option<String> {
        fn arb() -> BoxedStrategy<Self> {
            proptest::option::of(String::arb()).boxed()
        }
    }

    impl ArbField for Bytes {
        fn arb() -> BoxedStrategy<Self> {
            proptest::collection::vec(any::<u8>(), 0..24)
                .prop_map(Bytes::from)
                .boxed()
        }
    }

    impl ArbField for Option<Bytes> {
        fn arb() -> BoxedStrategy<Self> {
            proptest::option::of(Bytes::arb()).boxed()
        }
    }

    impl<T: ArbField + 'static> ArbField for Vec<T> {
        fn arb() -> BoxedStrategy<Self> {
            proptest::collection::vec(T::arb(), 0..4).boxed()
        }
    }
}

#[cfg(test)]
mod tests;
