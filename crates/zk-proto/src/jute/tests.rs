use bytes::{Bytes, BytesMut};

use super::*;

fn reader(bytes: &[u8]) -> Reader {
    Reader::new(Bytes::copy_from_slice(bytes))
}

fn encoded(write: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
    let mut buf = BytesMut::new();
    write(&mut buf);
    buf.to_vec()
}

#[test]
fn integers_are_big_endian() {
    assert_eq!(encoded(|b| put_i32(b, 0x0102_0304)), [1, 2, 3, 4]);
    assert_eq!(encoded(|b| put_i32(b, -2)), [0xff, 0xff, 0xff, 0xfe]);
    assert_eq!(
        encoded(|b| put_i64(b, 0x0102_0304_0506_0708)),
        [1, 2, 3, 4, 5, 6, 7, 8]
    );
    let mut r = reader(&[0xff, 0xff, 0xff, 0x92, 0, 0, 1, 0x8b, 0xcf, 0xe5, 0x68, 0]);
    assert_eq!(r.read_i32(), Ok(-110));
    assert_eq!(r.read_i64(), Ok(0x0000_018b_cfe5_6800));
    assert!(r.is_empty());
}

#[test]
fn fixed_size_reads_report_what_was_missing() {
    for len in 0..4 {
        assert_eq!(
            reader(&vec![0; len]).read_i32(),
            Err(DecodeError::UnexpectedEnd {
                needed: 4,
                remaining: len
            })
        );
    }
    for len in 0..8 {
        assert_eq!(
            reader(&vec![0; len]).read_i64(),
            Err(DecodeError::UnexpectedEnd {
                needed: 8,
                remaining: len
            })
        );
    }
    assert_eq!(
        reader(&[]).read_bool(),
        Err(DecodeError::UnexpectedEnd {
            needed: 1,
            remaining: 0
        })
    );
    assert_eq!(
        reader(&[]).read_byte(),
        Err(DecodeError::UnexpectedEnd {
            needed: 1,
            remaining: 0
        })
    );
    assert_eq!(
        reader(&[1, 2]).read_raw(3),
        Err(DecodeError::UnexpectedEnd {
            needed: 3,
            remaining: 2
        })
    );
}

#[test]
fn booleans_are_exactly_zero_or_one() {
    assert_eq!(encoded(|b| put_bool(b, true)), [1]);
    assert_eq!(encoded(|b| put_bool(b, false)), [0]);
    let mut r = reader(&[0, 1, 2, 0xff]);
    assert_eq!(r.read_bool(), Ok(false));
    assert_eq!(r.read_bool(), Ok(true));
    assert_eq!(r.read_bool(), Err(DecodeError::InvalidBool(2)));
    assert_eq!(r.read_bool(), Err(DecodeError::InvalidBool(0xff)));
}

#[test]
fn bytes_are_raw() {
    assert_eq!(encoded(|b| put_byte(b, 0xab)), [0xab]);
    assert_eq!(reader(&[0xab]).read_byte(), Ok(0xab));
}

#[test]
fn buffers_distinguish_null_and_empty() {
    assert_eq!(encoded(|b| put_buffer(b, None)), [0xff; 4]);
    assert_eq!(encoded(|b| put_buffer(b, Some(b""))), [0; 4]);
    assert_eq!(
        encoded(|b| put_buffer(b, Some(b"ab"))),
        [0, 0, 0, 2, b'a', b'b']
    );
    let mut r = reader(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 2, b'a', b'b']);
    assert_eq!(r.read_buffer(), Ok(None));
    assert_eq!(r.read_buffer(), Ok(Some(Bytes::new())));
    assert_eq!(r.read_buffer(), Ok(Some(Bytes::from_static(b"ab"))));
    assert!(r.is_empty());
}

#[test]
fn buffers_are_zero_copy_slices_of_the_input() {
    let input = Bytes::from_static(b"\0\0\0\x05hello");
    let range = input.as_ptr_range();
    let data = Reader::new(input.clone()).read_buffer().unwrap().unwrap();
    assert_eq!(&data[..], b"hello");
    assert!(
        range.contains(&data.as_ptr()),
        "the buffer must point into the frame"
    );
}

#[test]
fn buffer_length_errors() {
    assert_eq!(
        reader(&[0xff, 0xff, 0xff, 0xfe]).read_buffer(),
        Err(DecodeError::NegativeLength(-2))
    );
    assert_eq!(
        reader(&[0x80, 0, 0, 0]).read_buffer(),
        Err(DecodeError::NegativeLength(i32::MIN))
    );
    assert_eq!(
        Reader::with_max_len(Bytes::from_static(b"\0\0\0\x03abc"), 2).read_buffer(),
        Err(DecodeError::LengthTooLarge { len: 3, max: 2 })
    );
    assert_eq!(
        Reader::with_max_len(Bytes::from_static(b"\0\0\0\x02ab"), 2).read_buffer(),
        Ok(Some(Bytes::from_static(b"ab")))
    );
    assert_eq!(
        reader(&[0, 0, 0, 3, b'a', b'b']).read_buffer(),
        Err(DecodeError::UnexpectedEnd {
            needed: 3,
            remaining: 2
        })
    );
    assert_eq!(
        reader(&[0x7f, 0xff, 0xff, 0xff]).read_buffer(),
        Err(DecodeError::LengthTooLarge {
            len: 0x7fff_ffff,
            max: DEFAULT_MAX_LEN
        })
    );
    for len in 0..4 {
        assert_eq!(
            reader(&vec![0; len]).read_buffer(),
            Err(DecodeError::UnexpectedEnd {
                needed: 4,
                remaining: len
            })
        );
    }
}

#[test]
fn ustrings_are_utf8() {
    assert_eq!(
        encoded(|b| put_ustring(b, Some("/é"))),
        [0, 0, 0, 3, b'/', 0xc3, 0xa9]
    );
    assert_eq!(encoded(|b| put_ustring(b, None)), [0xff; 4]);
    assert_eq!(
        reader(&[0, 0, 0, 3, b'/', 0xc3, 0xa9]).read_ustring(),
        Ok(Some("/é".into()))
    );
    assert_eq!(reader(&[0xff; 4]).read_ustring(), Ok(None));
    assert_eq!(
        reader(&[0, 0, 0, 2, 0xc3, 0x28]).read_ustring(),
        Err(DecodeError::InvalidUtf8)
    );
    // CESU-8 surrogates (what the Java encoder writes above U+FFFF) are not UTF-8.
    assert_eq!(
        reader(&[0, 0, 0, 3, 0xed, 0xa0, 0xbd]).read_ustring(),
        Err(DecodeError::InvalidUtf8)
    );
}

#[test]
fn vectors_read_null_as_empty_and_check_counts_first() {
    let read_i32s = |bytes: &[u8]| reader(bytes).read_vec(4, Reader::read_i32);
    assert_eq!(read_i32s(&[0xff; 4]), Ok(vec![]));
    assert_eq!(read_i32s(&[0; 4]), Ok(vec![]));
    assert_eq!(
        read_i32s(&[0, 0, 0, 2, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff]),
        Ok(vec![7, -1])
    );
    assert_eq!(
        read_i32s(&[0xff, 0xff, 0xff, 0xfb]),
        Err(DecodeError::NegativeLength(-5))
    );
    assert_eq!(
        read_i32s(&[0, 0, 0, 2, 0, 0, 0, 7]),
        Err(DecodeError::VectorTooLong {
            count: 2,
            needed: 8,
            remaining: 4
        })
    );
    assert_eq!(
        read_i32s(&[0, 0, 0, 2, 0, 0, 0, 7, 0, 0, 0]),
        Err(DecodeError::VectorTooLong {
            count: 2,
            needed: 8,
            remaining: 7
        })
    );
    // A huge count is refused before reserving: reserving i32::MAX elements would abort.
    assert_eq!(
        reader(&[0x7f, 0xff, 0xff, 0xff, 1, 2, 3]).read_vec(0, Reader::read_byte),
        Err(DecodeError::VectorTooLong {
            count: 0x7fff_ffff,
            needed: 0x7fff_ffff,
            remaining: 3
        })
    );
    assert_eq!(
        Vec::<Vec<String>>::read_field(&mut reader(&[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0]), "x"),
        Err(DecodeError::VectorTooLong {
            count: 0x7fff_ffff,
            needed: 0x7fff_ffff * 4,
            remaining: 4
        })
    );
    // An element that fails stops the vector.
    assert_eq!(
        reader(&[0, 0, 0, 2, 1, 5]).read_vec(1, Reader::read_bool),
        Err(DecodeError::InvalidBool(5))
    );
}

#[test]
fn put_vec_writes_count_then_elements() {
    let bytes = encoded(|b| put_vec(b, &[3i32, 4], |b, v| put_i32(b, *v)));
    assert_eq!(bytes, [0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4]);
    assert_eq!(encoded(|b| put_vec::<i32>(b, &[], |_, _| {})), [0; 4]);
}

#[test]
fn non_nullable_fields_name_themselves() {
    assert_eq!(
        String::read_field(&mut reader(&[0xff; 4]), "CreateRequest.path"),
        Err(DecodeError::NullNotAllowed {
            field: "CreateRequest.path"
        })
    );
    assert_eq!(
        Bytes::read_field(&mut reader(&[0xff; 4]), "ConnectRequest.passwd"),
        Err(DecodeError::NullNotAllowed {
            field: "ConnectRequest.passwd"
        })
    );
    assert_eq!(
        Option::<String>::read_field(&mut reader(&[0xff; 4]), "Id.id"),
        Ok(None)
    );
    assert_eq!(
        DecodeError::NullNotAllowed {
            field: "CreateRequest.path"
        }
        .to_string(),
        "CreateRequest.path must not be null"
    );
}

#[test]
fn peek_and_rest_do_not_lose_bytes() {
    let mut r = reader(&[0, 0, 0, 1, 9]);
    assert_eq!(r.peek_i32(), Some(1));
    assert_eq!(r.remaining(), 5);
    assert_eq!(r.read_rest(), Bytes::from_static(&[0, 0, 0, 1, 9]));
    assert!(r.is_empty());
    assert_eq!(r.peek_i32(), None);
}
