//! The properties the fuzz targets check, shared by both targets: decoding arbitrary bytes
//! never panics, and whatever decodes re-encodes to something that decodes to the same value.

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};
use zk_proto::jute::to_bytes;
use zk_proto::{
    ConnectRequest, ConnectResponse, Decode, DecodeError, Encode, FrameCodec, OpCode, Reader,
    ReplyHeader, Request, RequestHeader, Response,
};

/// Asserts `decode(encode(value)) == value`, with `decode` consuming every byte.
fn assert_stable<T: Encode + PartialEq + std::fmt::Debug>(
    value: &T,
    decode: impl FnOnce(&mut Reader) -> Result<T, DecodeError>,
) {
    let bytes = to_bytes(value);
    let mut r = Reader::new(bytes.clone());
    match decode(&mut r) {
        Ok(again) => {
            assert_eq!(
                &again, value,
                "re-decoded value differs; bytes {bytes:02x?}"
            );
            assert!(r.is_empty(), "re-decoding left {} bytes", r.remaining());
        }
        Err(err) => panic!("re-encoded {value:?} does not decode: {err}; bytes {bytes:02x?}"),
    }
}

fn reader(bytes: &[u8]) -> Reader {
    Reader::new(Bytes::copy_from_slice(bytes))
}

/// A request body decoded as `op`.
pub fn check_request_body(op: OpCode, body: &[u8]) {
    if let Ok(request) = Request::decode(op, &mut reader(body)) {
        assert_eq!(request.op_code(), op);
        assert_stable(&request, |r| Request::decode(op, r));
    }
}

/// A request payload: RequestHeader, then the body as the header's opcode and as every other.
pub fn check_request_payload(payload: &[u8]) {
    let mut r = reader(payload);
    let Ok(header) = RequestHeader::decode(&mut r) else {
        return;
    };
    assert_stable(&header, RequestHeader::decode);
    let body = r.read_rest();
    if let Ok(op) = OpCode::try_from(header.op_code) {
        check_request_body(op, &body);
    }
    for &op in OpCode::ALL {
        check_request_body(op, &body);
    }
}

/// A reply payload: ReplyHeader, then the body as a reply to every opcode.
pub fn check_reply_payload(payload: &[u8]) {
    let mut r = reader(payload);
    let Ok(header) = ReplyHeader::decode(&mut r) else {
        return;
    };
    let body = r.read_rest();
    for &op in OpCode::ALL {
        if let Ok(response) = Response::decode(op, &header, &mut reader(&body)) {
            assert_stable(&response, |r| Response::decode(op, &header, r));
        }
    }
}

/// The handshake records.
pub fn check_connect(payload: &[u8]) {
    if let Ok(request) = ConnectRequest::decode(&mut reader(payload)) {
        assert_stable(&request, ConnectRequest::decode);
    }
    if let Ok(response) = ConnectResponse::decode(&mut reader(payload)) {
        assert_stable(&response, ConnectResponse::decode);
    }
}

/// Cuts `stream` into frames fed in chunks of `chunk` bytes. Every frame must re-encode to
/// the bytes it came from, and the result must not depend on how the stream was split.
pub fn frames(stream: &[u8], chunk: usize, max_frame: usize) -> Vec<Bytes> {
    let mut codec = FrameCodec::new(max_frame);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut consumed = 0;
    'feed: for piece in stream.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => {
                    assert!(frame.len() <= max_frame);
                    let mut encoded = BytesMut::new();
                    codec
                        .encode(frame.clone(), &mut encoded)
                        .unwrap_or_else(|err| {
                            panic!(
                                "a decoded frame of {} bytes cannot be encoded: {err}",
                                frame.len()
                            )
                        });
                    let original = stream.get(consumed..consumed + encoded.len());
                    assert_eq!(original, Some(&encoded[..]));
                    consumed += encoded.len();
                    out.push(frame);
                }
                Ok(None) => break,
                Err(_) => break 'feed,
            }
        }
    }
    out
}

/// Everything `decode_request` checks on one input.
pub fn check_request_input(data: &[u8]) {
    let one_shot = frames(data, data.len(), zk_proto::DEFAULT_MAX_FRAME);
    for frame in &one_shot {
        check_request_payload(frame);
    }
    check_connect(data);
    check_request_payload(data);
}

/// Everything `decode_frame` checks on one input: the first byte picks the chunk size and a
/// small frame limit, the rest is the stream.
pub fn check_frame_input(data: &[u8]) {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(seed % 16) + 1;
    let max_frame = if seed & 0x80 == 0 {
        zk_proto::DEFAULT_MAX_FRAME
    } else {
        64
    };
    let split = frames(stream, chunk, max_frame);
    let whole = frames(stream, stream.len(), max_frame);
    assert_eq!(split, whole, "frames depend on how the stream was split");
    for frame in &whole {
        check_connect(frame);
        check_request_payload(frame);
        check_reply_payload(frame);
    }
}
