use std::collections::HashSet;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;
use crate::jute::arb::ArbField;
use crate::jute::to_bytes;

fn decode(op: OpCode, body: &[u8]) -> Result<Request, DecodeError> {
    Request::decode(op, &mut Reader::new(Bytes::copy_from_slice(body)))
}

fn assert_request_round_trip(request: &Request) {
    let body = to_bytes(request);
    let mut r = Reader::new(body.clone());
    assert_eq!(
        Request::decode(request.op_code(), &mut r).as_ref(),
        Ok(request),
        "{body:02x?}"
    );
    assert!(r.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn every_variant_round_trips(request in Request::arb()) {
        assert_request_round_trip(&request);
    }

    #[test]
    fn arbitrary_bodies_never_panic(
        op in proptest::sample::select(OpCode::ALL),
        bytes in proptest::collection::vec(any::<u8>(), 0..96),
    ) {
        if let Ok(request) = decode(op, &bytes) {
            prop_assert_eq!(request.op_code(), op);
            assert_request_round_trip(&request);
        }
    }
}

#[test]
fn the_strategy_covers_every_request_opcode() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = Request::arb();
    let mut seen = HashSet::new();
    for _ in 0..5_000 {
        let request = strategy.new_tree(&mut runner).unwrap().current();
        seen.insert(request.op_code());
    }
    let expected: HashSet<OpCode> = OpCode::ALL
        .iter()
        .copied()
        .filter(|op| {
            !matches!(
                op,
                OpCode::Notification | OpCode::CreateSession | OpCode::Error
            )
        })
        .collect();
    assert_eq!(seen, expected);
}

#[test]
fn non_request_opcodes_are_unknown() {
    for op in [OpCode::Notification, OpCode::CreateSession, OpCode::Error] {
        assert_eq!(
            decode(op, &[]),
            Err(DecodeError::UnknownOpCode(op.as_i32()))
        );
    }
}

#[test]
fn empty_bodies_ignore_trailing_bytes() {
    assert_eq!(decode(OpCode::Ping, b"junk"), Ok(Request::Ping));
    assert_eq!(decode(OpCode::WhoAmI, b""), Ok(Request::WhoAmI));
    assert_eq!(decode(OpCode::CloseSession, b""), Ok(Request::CloseSession));
    let mut body = to_bytes(&SyncRequest { path: "/x".into() }).to_vec();
    body.extend_from_slice(b"tail");
    assert_eq!(
        decode(OpCode::Sync, &body),
        Ok(Request::Sync(SyncRequest { path: "/x".into() }))
    );
}

#[test]
fn malformed_bodies_are_errors_not_unknown_opcodes() {
    assert_eq!(
        decode(OpCode::GetData, &[0, 0, 0, 9, b'/']),
        Err(DecodeError::UnexpectedEnd {
            needed: 9,
            remaining: 1
        })
    );
    assert_eq!(
        decode(OpCode::Exists, &[0xff, 0xff, 0xff, 0xff, 0]),
        Err(DecodeError::NullNotAllowed {
            field: "ExistsRequest.path"
        })
    );
}

#[test]
fn request_frames_carry_the_header() {
    let mut out = BytesMut::new();
    let len = write_request_frame(&mut out, 5, &Request::CloseSession);
    assert_eq!(len, 8);
    assert_eq!(&out[..], [0, 0, 0, 8, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xf5]);
    let mut r = Reader::new(out.freeze().slice(4..));
    assert_eq!(
        RequestHeader::decode(&mut r),
        Ok(RequestHeader {
            xid: 5,
            op_code: -11
        })
    );
    assert!(r.is_empty());
}
