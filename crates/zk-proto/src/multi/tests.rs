use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;
use crate::jute::arb::ArbField;
use crate::jute::to_bytes;
use crate::records::{Acl, Id};
use crate::test_util::{assert_prefixes_fail, assert_redecodes, assert_round_trip};

fn decode_request(bytes: &[u8]) -> Result<MultiRequest, DecodeError> {
    MultiRequest::decode(&mut Reader::new(Bytes::copy_from_slice(bytes)))
}

fn header(op_type: i32, done: bool, err: i32) -> BytesMut {
    let mut buf = BytesMut::new();
    MultiHeader { op_type, done, err }.encode(&mut buf);
    buf
}

fn create(path: &str, flags: i32) -> CreateRequest {
    CreateRequest {
        path: path.into(),
        data: Some(Bytes::new()),
        acl: Acl::open_unsafe(),
        flags,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn requests_round_trip(value in MultiRequest::arb()) {
        let bytes = assert_round_trip(&value);
        assert_prefixes_fail::<MultiRequest>(&bytes);
    }

    #[test]
    fn responses_round_trip(value in MultiResponse::arb()) {
        let bytes = assert_round_trip(&value);
        assert_prefixes_fail::<MultiResponse>(&bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        let _ = assert_redecodes::<MultiRequest>(&bytes);
        let _ = assert_redecodes::<MultiResponse>(&bytes);
    }

    /// Valid headers followed by noise reach the body decoders.
    #[test]
    fn headers_and_noise_never_panic(
        op_type in prop_oneof![-1..=22i32, any::<i32>()],
        done in any::<bool>(),
        noise in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = header(op_type, done, -1);
        bytes.extend_from_slice(&noise);
        let _ = assert_redecodes::<MultiRequest>(&bytes);
        let _ = assert_redecodes::<MultiResponse>(&bytes);
    }
}

#[test]
fn empty_multi_is_only_the_terminator() {
    let bytes = assert_round_trip(&MultiRequest::default());
    assert_eq!(
        &bytes[..],
        [0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff]
    );
    assert_eq!(MultiRequest::default().kind(), None);
    assert_eq!(
        &assert_round_trip(&MultiResponse::default())[..],
        &bytes[..]
    );
}

#[test]
fn ops_are_header_then_body() {
    let request = MultiRequest {
        ops: vec![
            MultiOp::Create {
                op: OpCode::Create2,
                req: create("/a", 0),
            },
            MultiOp::Check(CheckVersionRequest {
                path: "/a".into(),
                version: 3,
            }),
        ],
    };
    let bytes = assert_round_trip(&request);
    let mut expected = header(15, false, -1);
    create("/a", 0).encode(&mut expected);
    expected.extend_from_slice(&header(13, false, -1));
    CheckVersionRequest {
        path: "/a".into(),
        version: 3,
    }
    .encode(&mut expected);
    expected.extend_from_slice(&header(-1, true, -1));
    assert_eq!(bytes, expected.freeze());
    assert_eq!(request.kind(), Some(MultiKind::Write));
    assert_eq!(request.ops[0].path(), "/a");
}

#[test]
fn unknown_op_types_are_refused() {
    for op_type in [0, 3, 9, 12, 14, 16, 20, 22, 101, -10, 55] {
        let mut bytes = header(op_type, false, -1);
        bytes.extend_from_slice(&to_bytes(&create("/a", 0)));
        bytes.extend_from_slice(&header(-1, true, -1));
        assert_eq!(
            decode_request(&bytes),
            Err(DecodeError::UnknownOpCode(op_type)),
            "{op_type}"
        );
    }
    // type -1 without done is an unknown op, not a terminator.
    assert_eq!(
        decode_request(&header(-1, false, -1)),
        Err(DecodeError::UnknownOpCode(-1))
    );
}

#[test]
fn create_flags_are_checked_while_parsing() {
    for (op_type, flags, ok) in [
        (1, 0, true),
        (1, 6, true),
        (1, 7, false),
        (19, -1, false),
        (15, 4, true),
    ] {
        let mut bytes = header(op_type, false, -1);
        bytes.extend_from_slice(&to_bytes(&create("/a", flags)));
        bytes.extend_from_slice(&header(-1, true, -1));
        let result = decode_request(&bytes);
        if ok {
            assert!(result.is_ok(), "{op_type}/{flags}: {result:?}");
        } else {
            assert_eq!(
                result,
                Err(DecodeError::UnknownValue {
                    kind: "create mode",
                    value: flags
                })
            );
        }
    }
    let ttl = CreateTtlRequest {
        path: "/t".into(),
        data: None,
        acl: vec![],
        flags: 9,
        ttl: 5,
    };
    let mut bytes = header(21, false, -1);
    bytes.extend_from_slice(&to_bytes(&ttl));
    bytes.extend_from_slice(&header(-1, true, -1));
    assert_eq!(
        decode_request(&bytes),
        Err(DecodeError::UnknownValue {
            kind: "create mode",
            value: 9
        })
    );
}

#[test]
fn mixing_reads_and_writes_is_refused() {
    for ops in [
        vec![
            MultiOp::GetData(GetDataRequest {
                path: "/a".into(),
                watch: false,
            }),
            MultiOp::Delete(DeleteRequest {
                path: "/a".into(),
                version: -1,
            }),
        ],
        vec![
            MultiOp::Check(CheckVersionRequest {
                path: "/a".into(),
                version: -1,
            }),
            MultiOp::GetChildren(GetChildrenRequest {
                path: "/".into(),
                watch: true,
            }),
        ],
    ] {
        let bytes = to_bytes(&MultiRequest { ops });
        assert_eq!(decode_request(&bytes), Err(DecodeError::MixedMulti));
    }
    let reads = MultiRequest {
        ops: vec![
            MultiOp::GetData(GetDataRequest {
                path: "/a".into(),
                watch: false,
            }),
            MultiOp::GetChildren(GetChildrenRequest {
                path: "/".into(),
                watch: false,
            }),
        ],
    };
    assert_round_trip(&reads);
    assert_eq!(reads.kind(), Some(MultiKind::Read));
}

#[test]
fn header_err_of_ops_is_ignored_but_terminator_type_is_checked() {
    let mut bytes = header(2, false, 12345);
    DeleteRequest {
        path: "/b".into(),
        version: -1,
    }
    .encode(&mut bytes);
    bytes.extend_from_slice(&header(-1, true, 0));
    assert_eq!(
        decode_request(&bytes),
        Ok(MultiRequest {
            ops: vec![MultiOp::Delete(DeleteRequest {
                path: "/b".into(),
                version: -1
            })]
        })
    );
    assert_eq!(
        decode_request(&header(2, true, -1)),
        Err(DecodeError::BadMultiHeader)
    );
    assert_eq!(
        decode_request(&[0, 0, 0, 2, 7]),
        Err(DecodeError::InvalidBool(7))
    );
}

#[test]
fn failed_multi_response_matches_the_spec() {
    // spec §9.3: [create /m2, delete /nothere, setData /m] failing on the delete.
    let response = MultiResponse {
        results: vec![
            MultiResult::Error { err: 0 },
            MultiResult::Error { err: -101 },
            MultiResult::Error { err: -2 },
        ],
    };
    let expected: [u8; 48] = [
        0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, //
        0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0xff, 0x9b, 0xff, 0xff, 0xff, 0x9b, //
        0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xfe, //
        0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff,
    ];
    assert_eq!(&assert_round_trip(&response)[..], &expected[..]);
}

#[test]
fn read_results_match_the_spec() {
    let stat = Stat {
        czxid: 4,
        ..Stat::default()
    };
    let response = MultiResponse {
        results: vec![
            MultiResult::GetData {
                data: Some(Bytes::from_static(b"x")),
                stat: stat.clone(),
            },
            MultiResult::Error { err: -101 },
            MultiResult::GetChildren { children: vec![] },
            MultiResult::Create2 {
                path: "/p".into(),
                stat,
            },
            MultiResult::SetData {
                stat: Stat::default(),
            },
            MultiResult::Create { path: "/q".into() },
            MultiResult::Delete,
            MultiResult::Check,
        ],
    };
    let bytes = assert_round_trip(&response);
    assert_eq!(&bytes[..9], &header(4, false, 0)[..]);
    let types: Vec<i32> = response
        .results
        .iter()
        .map(MultiResult::result_type)
        .collect();
    assert_eq!(types, [4, -1, 8, 15, 5, 1, 2, 13]);
}

#[test]
fn inconsistent_result_headers_are_refused() {
    // An error header whose code differs from its body.
    let mut bytes = header(-1, false, -101);
    ErrorResponse { err: -102 }.encode(&mut bytes);
    bytes.extend_from_slice(&header(-1, true, -1));
    assert_eq!(
        MultiResponse::decode(&mut Reader::new(bytes.freeze())),
        Err(DecodeError::BadMultiHeader)
    );
    // A success result with a non-zero err.
    let mut bytes = header(2, false, -5);
    bytes.extend_from_slice(&header(-1, true, -1));
    assert_eq!(
        MultiResponse::decode(&mut Reader::new(bytes.freeze())),
        Err(DecodeError::BadMultiHeader)
    );
    // An unknown result type.
    let mut bytes = header(3, false, 0);
    bytes.extend_from_slice(&header(-1, true, -1));
    assert_eq!(
        MultiResponse::decode(&mut Reader::new(bytes.freeze())),
        Err(DecodeError::UnknownOpCode(3))
    );
}

#[test]
fn op_helpers() {
    let id = Id::anyone();
    let acl = vec![Acl { perms: 1, id }];
    let op = MultiOp::CreateTtl(CreateTtlRequest {
        path: "/t".into(),
        data: None,
        acl,
        flags: 5,
        ttl: 10,
    });
    assert_eq!(op.op_code(), OpCode::CreateTtl);
    assert_eq!(op.kind(), MultiKind::Write);
    assert_eq!(op.path(), "/t");
}
