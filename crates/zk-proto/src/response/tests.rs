use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;
use crate::jute::arb::ArbField;
use crate::records::{ClientInfo, Stat};

fn decode(op: OpCode, header: &ReplyHeader, body: &[u8]) -> Result<Response, DecodeError> {
    Response::decode(op, header, &mut Reader::new(Bytes::copy_from_slice(body)))
}

fn ok_header(xid: i32) -> ReplyHeader {
    ReplyHeader {
        xid,
        zxid: 5,
        err: 0,
    }
}

/// One typed reply per opcode family, with the opcode it answers.
fn sample_replies() -> Vec<(OpCode, Response)> {
    let stat = Stat {
        mzxid: 3,
        ..Stat::default()
    };
    vec![
        (
            OpCode::Create,
            Response::Create(CreateResponse { path: "/a".into() }),
        ),
        (
            OpCode::Create2,
            Response::Create2(Create2Response {
                path: "/a".into(),
                stat: stat.clone(),
            }),
        ),
        (
            OpCode::CreateContainer,
            Response::Create2(Create2Response {
                path: "/c".into(),
                stat: stat.clone(),
            }),
        ),
        (
            OpCode::CreateTtl,
            Response::Create2(Create2Response {
                path: "/t".into(),
                stat: stat.clone(),
            }),
        ),
        (
            OpCode::Exists,
            Response::Exists(ExistsResponse { stat: stat.clone() }),
        ),
        (
            OpCode::GetData,
            Response::GetData(GetDataResponse {
                data: None,
                stat: stat.clone(),
            }),
        ),
        (
            OpCode::Reconfig,
            Response::GetData(GetDataResponse {
                data: Some(Bytes::from_static(b"cfg")),
                stat: stat.clone(),
            }),
        ),
        (
            OpCode::SetData,
            Response::SetData(SetDataResponse { stat: stat.clone() }),
        ),
        (
            OpCode::GetAcl,
            Response::GetAcl(GetAclResponse {
                acl: crate::Acl::open_unsafe(),
                stat: stat.clone(),
            }),
        ),
        (
            OpCode::SetAcl,
            Response::SetAcl(SetAclResponse { stat: stat.clone() }),
        ),
        (
            OpCode::GetChildren,
            Response::GetChildren(GetChildrenResponse {
                children: vec!["x".into()],
            }),
        ),
        (
            OpCode::GetChildren2,
            Response::GetChildren2(GetChildren2Response {
                children: vec![],
                stat,
            }),
        ),
        (
            OpCode::Sync,
            Response::Sync(SyncResponse {
                path: "/whatever".into(),
            }),
        ),
        (OpCode::Multi, Response::Multi(MultiResponse::default())),
        (OpCode::MultiRead, Response::Multi(MultiResponse::default())),
        (
            OpCode::Sasl,
            Response::Sasl(SetSaslResponse {
                token: Some(Bytes::from_static(b"t")),
            }),
        ),
        (
            OpCode::GetEphemerals,
            Response::GetEphemerals(GetEphemeralsResponse {
                ephemerals: vec!["/e".into()],
            }),
        ),
        (
            OpCode::GetAllChildrenNumber,
            Response::GetAllChildrenNumber(GetAllChildrenNumberResponse { total_number: 12 }),
        ),
        (
            OpCode::AddWatch,
            Response::AddWatch(ErrorResponse { err: 0 }),
        ),
        (
            OpCode::WhoAmI,
            Response::WhoAmI(WhoAmIResponse {
                client_info: vec![ClientInfo {
                    auth_scheme: "ip".into(),
                    user: "127.0.0.1".into(),
                }],
            }),
        ),
        (OpCode::Delete, Response::Empty),
        (OpCode::Ping, Response::Empty),
        (OpCode::Auth, Response::Empty),
        (OpCode::SetWatches, Response::Empty),
        (OpCode::SetWatches2, Response::Empty),
        (OpCode::CheckWatches, Response::Empty),
        (OpCode::RemoveWatches, Response::Empty),
        (OpCode::CloseSession, Response::Empty),
    ]
}

#[test]
fn every_reply_round_trips_by_opcode() {
    for (op, response) in sample_replies() {
        let header = ok_header(7);
        let mut out = BytesMut::new();
        let len = write_reply_frame(&mut out, &header, response.body());
        assert_eq!(len + 4, out.len());
        assert_eq!(&out[..4], &(len as i32).to_be_bytes());
        let mut r = Reader::new(out.freeze().slice(4..));
        let decoded_header = ReplyHeader::decode(&mut r).unwrap();
        assert_eq!(decoded_header, header);
        assert_eq!(
            Response::decode(op, &decoded_header, &mut r),
            Ok(response),
            "{op:?}"
        );
        assert!(r.is_empty(), "{op:?}: bytes left");
    }
}

#[test]
fn errors_have_no_body_except_sasl() {
    let header = ReplyHeader {
        xid: 3,
        zxid: 9,
        err: -101,
    };
    assert_eq!(decode(OpCode::GetData, &header, &[]), Ok(Response::Empty));
    assert_eq!(decode(OpCode::Multi, &header, &[]), Ok(Response::Empty));
    let failed_sasl = ReplyHeader {
        xid: 3,
        zxid: 0,
        err: -115,
    };
    assert_eq!(
        decode(OpCode::Sasl, &failed_sasl, &[0xff; 4]),
        Ok(Response::Sasl(SetSaslResponse { token: None }))
    );
    assert_eq!(decode(OpCode::Sasl, &failed_sasl, &[]), Ok(Response::Empty));
}

#[test]
fn notifications_are_recognised_by_xid() {
    let event = WatcherEvent {
        event_type: 3,
        state: 3,
        path: "/app".into(),
    };
    let header = ReplyHeader {
        xid: crate::NOTIFICATION_XID,
        zxid: -1,
        err: 0,
    };
    let body = crate::jute::to_bytes(&event);
    assert_eq!(
        decode(OpCode::Ping, &header, &body),
        Ok(Response::Notification(event))
    );
}

#[test]
fn non_request_opcodes_have_no_reply() {
    for op in [OpCode::Notification, OpCode::CreateSession, OpCode::Error] {
        assert_eq!(
            decode(op, &ok_header(1), &[]),
            Err(DecodeError::UnknownOpCode(op.as_i32()))
        );
    }
}

#[test]
fn encode_reply_without_body_is_the_header() {
    let mut buf = BytesMut::new();
    encode_reply(
        &mut buf,
        &ReplyHeader {
            xid: 1,
            zxid: 3,
            err: -110,
        },
        None,
    );
    assert_eq!(
        &buf[..],
        [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0x92]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn arbitrary_bodies_never_panic(
        op in proptest::sample::select(OpCode::ALL),
        header in ReplyHeader::arb(),
        bytes in proptest::collection::vec(any::<u8>(), 0..96),
    ) {
        if let Ok(response) = decode(op, &header, &bytes) {
            let body = crate::jute::to_bytes(&response);
            prop_assert_eq!(decode(op, &header, &body), Ok(response));
        }
    }
}
