//! FrameCodec: length-prefixed frames cut from a byte stream however it arrives.
#![allow(clippy::unwrap_used)]

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};
use zk_proto::{DEFAULT_MAX_FRAME, DecodeError, FourLetterWord, FrameCodec, FrameError};

fn encode_all(payloads: &[Vec<u8>]) -> BytesMut {
    let mut codec = FrameCodec::default();
    let mut out = BytesMut::new();
    for payload in payloads {
        codec.encode(payload.as_slice(), &mut out).unwrap();
    }
    out
}

/// Feeds `stream` in chunks of the given sizes (cycling), collecting every payload.
fn decode_in_chunks(stream: &[u8], chunk_sizes: &[usize]) -> Vec<Bytes> {
    let mut codec = FrameCodec::default();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = stream;
    let mut sizes = chunk_sizes.iter().cycle();
    while !rest.is_empty() {
        let take = (*sizes.next().unwrap()).clamp(1, rest.len());
        buf.extend_from_slice(&rest[..take]);
        rest = &rest[take..];
        while let Some(frame) = codec.decode(&mut buf).unwrap() {
            frames.push(frame);
        }
    }
    assert!(buf.is_empty());
    assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
    frames
}

fn decode_error(bytes: &[u8], max: usize) -> DecodeError {
    match FrameCodec::new(max).decode(&mut BytesMut::from(bytes)) {
        Err(FrameError::Decode(err)) => err,
        other => panic!("expected a decode error, got {other:?}"),
    }
}

#[test]
fn frames_split_byte_by_byte() {
    let payloads = vec![b"first".to_vec(), Vec::new(), vec![7; 300]];
    let stream = encode_all(&payloads);
    assert_eq!(&stream[..9], b"\0\0\0\x05first");
    let frames = decode_in_chunks(&stream, &[1]);
    assert_eq!(
        frames,
        payloads
            .iter()
            .map(|p| Bytes::from(p.clone()))
            .collect::<Vec<_>>()
    );
}

#[test]
fn several_frames_in_one_read() {
    let payloads = vec![b"a".to_vec(), b"bc".to_vec(), b"def".to_vec()];
    let frames = decode_in_chunks(&encode_all(&payloads), &[usize::MAX]);
    assert_eq!(frames.len(), 3);
    assert_eq!(&frames[2][..], b"def");
}

#[test]
fn an_incomplete_frame_waits_and_reserves_room() {
    let mut codec = FrameCodec::default();
    let mut buf = BytesMut::from(&b"\0\0\x01\0abc"[..]);
    assert_eq!(codec.decode(&mut buf).unwrap(), None);
    assert_eq!(
        buf.len(),
        7,
        "nothing is consumed before the frame is complete"
    );
    assert!(buf.capacity() >= 4 + 256);
    let mut short = BytesMut::from(&b"\0\0"[..]);
    assert_eq!(codec.decode(&mut short).unwrap(), None);
}

#[test]
fn max_length_boundary() {
    assert_eq!(DEFAULT_MAX_FRAME, 0xF_FFFF);
    let mut stream = BytesMut::new();
    stream.put_i32(0xF_FFFF);
    stream.put_bytes(0xab, 0xF_FFFF);
    let frame = FrameCodec::default().decode(&mut stream).unwrap().unwrap();
    assert_eq!(frame.len(), 1_048_575);

    // One more byte is refused as soon as the length is read, without waiting for the data.
    assert_eq!(
        decode_error(&0x10_0000i32.to_be_bytes(), DEFAULT_MAX_FRAME),
        DecodeError::FrameTooLarge {
            len: 0x10_0000,
            max: DEFAULT_MAX_FRAME
        }
    );
    assert_eq!(
        decode_error(&[0, 0, 0, 11], 10),
        DecodeError::FrameTooLarge { len: 11, max: 10 }
    );
    assert_eq!(
        FrameCodec::new(10)
            .decode(&mut BytesMut::from(
                &[0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..]
            ))
            .unwrap(),
        Some(Bytes::from_static(&[0; 10]))
    );
}

#[test]
fn negative_lengths_are_refused() {
    assert_eq!(
        decode_error(&[0xff; 4], DEFAULT_MAX_FRAME),
        DecodeError::NegativeLength(-1)
    );
    assert_eq!(
        decode_error(&[0x80, 0, 0, 0], DEFAULT_MAX_FRAME),
        DecodeError::NegativeLength(i32::MIN)
    );
}

#[test]
fn four_letter_words_look_like_oversized_frames() {
    // Why a server must compare the first four bytes with the words before the length check.
    let ruok = FourLetterWord::Ruok.bytes();
    assert!(matches!(
        decode_error(&ruok, DEFAULT_MAX_FRAME),
        DecodeError::FrameTooLarge { .. }
    ));
    assert_eq!(
        FourLetterWord::from_first_four(&ruok),
        Some(FourLetterWord::Ruok)
    );
}

#[test]
fn encoder_accepts_any_byte_container_and_refuses_oversized_payloads() {
    let mut codec = FrameCodec::new(4);
    let mut out = BytesMut::new();
    codec.encode(Bytes::from_static(b"ab"), &mut out).unwrap();
    codec.encode(vec![1u8, 2, 3, 4], &mut out).unwrap();
    codec.encode(&b""[..], &mut out).unwrap();
    assert_eq!(&out[..], b"\0\0\0\x02ab\0\0\0\x04\x01\x02\x03\x04\0\0\0\0");
    let err = codec.encode(&b"12345"[..], &mut out).unwrap_err();
    assert!(matches!(
        err,
        FrameError::Decode(DecodeError::FrameTooLarge { len: 5, max: 4 })
    ));
    assert_eq!(out.len(), 18, "nothing is written for a refused frame");
}

#[test]
fn codec_error_wraps_io_errors() {
    let err: FrameError = std::io::Error::other("boom").into();
    assert!(err.to_string().contains("boom"));
    let err: FrameError = DecodeError::NegativeLength(-3).into();
    assert_eq!(err.to_string(), "bad frame: negative length -3");
}

proptest! {
    #[test]
    fn any_split_gives_the_same_frames(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..6),
        chunks in proptest::collection::vec(1usize..17, 1..8),
    ) {
        let stream = encode_all(&payloads);
        let frames = decode_in_chunks(&stream, &chunks);
        prop_assert_eq!(frames, payloads.into_iter().map(Bytes::from).collect::<Vec<_>>());
    }

    #[test]
    fn arbitrary_streams_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64), max in 0usize..40) {
        let mut codec = FrameCodec::new(max);
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(frame)) = codec.decode(&mut buf) {
            prop_assert!(frame.len() <= max);
        }
    }
}
