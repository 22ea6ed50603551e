//! The worked hex dumps of client-protocol.md §17 as golden tests: each frame is decoded, its
//! fields checked, and re-encoded to the identical bytes.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::{Bytes, BytesMut};
use common::{hex, payload};
use zk_proto::codec::write_frame;
use zk_proto::request::write_request_frame;
use zk_proto::response::write_reply_frame;
use zk_proto::{
    Acl, ConnectRequest, ConnectResponse, CreateRequest, CreateResponse, Decode, DeleteRequest,
    ErrorResponse, GetDataRequest, GetDataResponse, Id, MultiOp, MultiRequest, MultiResponse,
    MultiResult, OpCode, Reader, ReplyHeader, Request, RequestHeader, Response, SetWatches, Stat,
    WatcherEvent,
};

/// Decodes a request frame: header, then the typed body.
fn request(frame: &[u8]) -> (RequestHeader, Request) {
    let mut r = Reader::new(payload(frame));
    let header = RequestHeader::decode(&mut r).unwrap();
    let op = OpCode::try_from(header.op_code).unwrap();
    let body = Request::decode(op, &mut r).unwrap();
    assert!(r.is_empty());
    (header, body)
}

/// Re-encodes a request and checks the bytes.
fn assert_request_bytes(frame: &[u8], header: &RequestHeader, body: &Request) {
    assert_eq!(header.op_code, body.op_code().as_i32());
    let mut out = BytesMut::new();
    write_request_frame(&mut out, header.xid, body);
    assert_eq!(&out[..], frame);
}

/// Decodes a reply frame to a request with opcode `op`.
fn reply(op: OpCode, frame: &[u8]) -> (ReplyHeader, Response) {
    let mut r = Reader::new(payload(frame));
    let header = ReplyHeader::decode(&mut r).unwrap();
    let body = Response::decode(op, &header, &mut r).unwrap();
    assert!(r.is_empty());
    (header, body)
}

fn assert_reply_bytes(frame: &[u8], header: &ReplyHeader, body: &Response) {
    let mut out = BytesMut::new();
    write_reply_frame(&mut out, header, body.body());
    assert_eq!(&out[..], frame);
}

const PASSWD: &str = "99 54 01 15 b2 ac 33 9b 9f 3f 41 ba 4b 39 27 0b";

#[test]
fn s17_1_connect_request() {
    let frame = hex(
        "00 00 00 2d | 00 00 00 00 | 00 00 00 00 00 00 00 00 | 00 00 75 30
        | 00 00 00 00 00 00 00 00 | 00 00 00 10 | 00000000000000000000000000000000 | 00",
    );
    assert_eq!(frame.len(), 49);
    let request = ConnectRequest::decode(&mut Reader::new(payload(&frame))).unwrap();
    assert_eq!(
        request,
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout: 30_000,
            session_id: 0,
            passwd: Bytes::from_static(&[0; 16]),
            read_only: Some(false),
        }
    );
    assert_eq!(&frame_of(&request)[..], &frame[..]);
}

fn frame_of(value: &dyn zk_proto::Encode) -> BytesMut {
    let mut out = BytesMut::new();
    write_frame(&mut out, |buf| value.encode(buf));
    out
}

#[test]
fn s17_2_connect_response() {
    let frame = hex(&format!(
        "00 00 00 25 | 00 00 00 00 | 00 00 75 30 | 01 00 0a 1b 2c 3d 00 00 | 00 00 00 10 | {PASSWD} | 00"
    ));
    assert_eq!(frame.len(), 41);
    let response = ConnectResponse::decode(&mut Reader::new(payload(&frame))).unwrap();
    assert_eq!(response.timeout, 30_000);
    assert_eq!(response.session_id, 0x0100_0a1b_2c3d_0000);
    assert_eq!(&response.passwd[..], &hex(PASSWD)[..]);
    assert_eq!(response.read_only, Some(false));
    assert_eq!(&frame_of(&response)[..], &frame[..]);

    // The same for a client that left out readOnly: 40 bytes.
    let old = ConnectResponse {
        read_only: None,
        ..response
    };
    let old_frame = frame_of(&old);
    assert_eq!(old_frame.len(), 40);
    assert_eq!(&old_frame[..4], &[0, 0, 0, 0x24]);
    assert_eq!(&old_frame[4..], &frame[4..40]);
    assert_eq!(
        ConnectResponse::decode(&mut Reader::new(payload(&old_frame))).unwrap(),
        old
    );

    // Invalid or expired session.
    let expired = hex(
        "00 00 00 25 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00 00 00 00 00 | 00 00 00 10 | 00000000000000000000000000000000 | 00",
    );
    let response = ConnectResponse::decode(&mut Reader::new(payload(&expired))).unwrap();
    assert_eq!((response.timeout, response.session_id), (0, 0));
    assert_eq!(&zk_proto::codec::frame(&response)[..], &expired[..]);
}

#[test]
fn s17_3_create_and_replies() {
    let frame = hex(
        r#"00 00 00 38 | 00 00 00 01 | 00 00 00 01 | 00 00 00 04 "/app" | 00 00 00 05 "hello"
        | 00 00 00 01 | 00 00 00 1f | 00 00 00 05 "world" | 00 00 00 06 "anyone" | 00 00 00 00"#,
    );
    assert_eq!(frame.len(), 60);
    let (header, body) = request(&frame);
    assert_eq!(header, RequestHeader { xid: 1, op_code: 1 });
    assert_eq!(
        body,
        Request::Create(CreateRequest {
            path: "/app".into(),
            data: Some(Bytes::from_static(b"hello")),
            acl: vec![Acl {
                perms: 31,
                id: Id::anyone()
            }],
            flags: 0,
        })
    );
    assert_request_bytes(&frame, &header, &body);

    let ok = hex(
        r#"00 00 00 18 | 00 00 00 01 | 00 00 00 00 00 00 00 02 | 00 00 00 00 | 00 00 00 04 "/app""#,
    );
    let (header, body) = reply(OpCode::Create, &ok);
    assert_eq!(
        header,
        ReplyHeader {
            xid: 1,
            zxid: 2,
            err: 0
        }
    );
    assert_eq!(
        body,
        Response::Create(CreateResponse {
            path: "/app".into()
        })
    );
    assert_reply_bytes(&ok, &header, &body);

    let exists = hex("00 00 00 10 | 00 00 00 01 | 00 00 00 00 00 00 00 03 | ff ff ff 92");
    let (header, body) = reply(OpCode::Create, &exists);
    assert_eq!(
        header,
        ReplyHeader {
            xid: 1,
            zxid: 3,
            err: -110
        }
    );
    assert_eq!(body, Response::Empty);
    assert_reply_bytes(&exists, &header, &body);
}

#[test]
fn s17_4_get_data_reply_and_notification() {
    let frame = hex(r#"00 00 00 11 | 00 00 00 02 | 00 00 00 04 | 00 00 00 04 "/app" | 01"#);
    assert_eq!(frame.len(), 21);
    let (header, body) = request(&frame);
    assert_eq!(header, RequestHeader { xid: 2, op_code: 4 });
    assert_eq!(
        body,
        Request::GetData(GetDataRequest {
            path: "/app".into(),
            watch: true
        })
    );
    assert_request_bytes(&frame, &header, &body);

    let data_reply = hex(
        r#"00 00 00 5d | 00 00 00 02 | 00 00 00 00 00 00 00 02 | 00 00 00 00
        | 00 00 00 05 "hello"
        | 00 00 00 00 00 00 00 02 | 00 00 00 00 00 00 00 02
        | 00 00 01 8b cf e5 68 00 | 00 00 01 8b cf e5 68 00
        | 00 00 00 00 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00 00 00 00 00
        | 00 00 00 05 | 00 00 00 00 | 00 00 00 00 00 00 00 02"#,
    );
    assert_eq!(data_reply.len(), 97);
    let (header, body) = reply(OpCode::GetData, &data_reply);
    assert_eq!(
        header,
        ReplyHeader {
            xid: 2,
            zxid: 2,
            err: 0
        }
    );
    let stat = Stat {
        czxid: 2,
        mzxid: 2,
        ctime: 1_700_000_000_000,
        mtime: 1_700_000_000_000,
        data_length: 5,
        pzxid: 2,
        ..Stat::default()
    };
    assert_eq!(
        body,
        Response::GetData(GetDataResponse {
            data: Some(Bytes::from_static(b"hello")),
            stat
        })
    );
    assert_reply_bytes(&data_reply, &header, &body);

    for zxid in ["00 00 00 00 00 00 00 03", "ff ff ff ff ff ff ff ff"] {
        let event = hex(&format!(
            r#"00 00 00 20 | ff ff ff ff | {zxid} | 00 00 00 00 | 00 00 00 03 | 00 00 00 03 | 00 00 00 04 "/app""#
        ));
        assert_eq!(event.len(), 36);
        // A notification is recognised by its xid whatever request is pending.
        let (header, body) = reply(OpCode::Exists, &event);
        assert_eq!(header.xid, zk_proto::NOTIFICATION_XID);
        assert_eq!(
            body,
            Response::Notification(WatcherEvent {
                event_type: 3,
                state: 3,
                path: "/app".into()
            })
        );
        assert_reply_bytes(&event, &header, &body);
    }
}

#[test]
fn s17_5_small_frames() {
    let ping = hex("00 00 00 08 | ff ff ff fe | 00 00 00 0b");
    let (header, body) = request(&ping);
    assert_eq!(
        (header.xid, body.clone()),
        (zk_proto::PING_XID, Request::Ping)
    );
    assert_request_bytes(&ping, &header, &body);

    let ping_reply = hex("00 00 00 10 | ff ff ff fe | 00 00 00 00 00 00 00 09 | 00 00 00 00");
    let (header, body) = reply(OpCode::Ping, &ping_reply);
    assert_eq!((header.xid, header.zxid, &body), (-2, 9, &Response::Empty));
    assert_reply_bytes(&ping_reply, &header, &body);

    let auth = hex(
        r#"00 00 00 27 | ff ff ff fc | 00 00 00 64 | 00 00 00 00 | 00 00 00 06 "digest" | 00 00 00 0d "user:password""#,
    );
    let (header, body) = request(&auth);
    assert_eq!(
        header,
        RequestHeader {
            xid: zk_proto::AUTH_XID,
            op_code: 100
        }
    );
    assert_eq!(
        body,
        Request::Auth(zk_proto::AuthPacket {
            auth_type: 0,
            scheme: "digest".into(),
            auth: Some(Bytes::from_static(b"user:password")),
        })
    );
    assert_request_bytes(&auth, &header, &body);

    for (frame, err) in [
        (
            "00 00 00 10 | ff ff ff fc | 00 00 00 00 00 00 00 00 | 00 00 00 00",
            0,
        ),
        (
            "00 00 00 10 | ff ff ff fc | 00 00 00 00 00 00 00 00 | ff ff ff 8d",
            -115,
        ),
    ] {
        let frame = hex(frame);
        let (header, body) = reply(OpCode::Auth, &frame);
        assert_eq!(
            header,
            ReplyHeader {
                xid: -4,
                zxid: 0,
                err
            }
        );
        assert_eq!(body, Response::Empty);
        assert_reply_bytes(&frame, &header, &body);
    }

    let close = hex("00 00 00 08 | 00 00 00 05 | ff ff ff f5");
    let (header, body) = request(&close);
    assert_eq!((header.xid, &body), (5, &Request::CloseSession));
    assert_request_bytes(&close, &header, &body);

    let add_watch_reply =
        hex("00 00 00 14 | 00 00 00 07 | 00 00 00 00 00 00 00 0c | 00 00 00 00 | 00 00 00 00");
    let (header, body) = reply(OpCode::AddWatch, &add_watch_reply);
    assert_eq!(body, Response::AddWatch(ErrorResponse { err: 0 }));
    assert_reply_bytes(&add_watch_reply, &header, &body);

    let set_watches = hex(
        r#"00 00 00 29 | ff ff ff f8 | 00 00 00 65 | 00 00 00 00 00 00 00 09
        | 00 00 00 01 00 00 00 04 "/app" | 00 00 00 00 | 00 00 00 01 00 00 00 01 "/""#,
    );
    let (header, body) = request(&set_watches);
    assert_eq!(
        header,
        RequestHeader {
            xid: zk_proto::SET_WATCHES_XID,
            op_code: 101
        }
    );
    assert_eq!(
        body,
        Request::SetWatches(SetWatches {
            relative_zxid: 9,
            data_watches: vec!["/app".into()],
            exist_watches: vec![],
            child_watches: vec!["/".into()],
        })
    );
    assert_request_bytes(&set_watches, &header, &body);
}

#[test]
fn s17_6_multi() {
    let frame = hex(r#"00 00 00 56 | 00 00 00 06 | 00 00 00 0e
        | 00 00 00 01 00 ff ff ff ff
        | 00 00 00 02 2f 61 | 00 00 00 00 | 00 00 00 01 00 00 00 1f
          00 00 00 05 "world" 00 00 00 06 "anyone" | 00 00 00 00
        | 00 00 00 02 00 ff ff ff ff
        | 00 00 00 02 2f 62 | ff ff ff ff
        | ff ff ff ff 01 ff ff ff ff"#);
    assert_eq!(frame.len(), 90);
    let (header, body) = request(&frame);
    assert_eq!(
        header,
        RequestHeader {
            xid: 6,
            op_code: 14
        }
    );
    let expected = MultiRequest {
        ops: vec![
            MultiOp::Create {
                op: OpCode::Create,
                req: CreateRequest {
                    path: "/a".into(),
                    data: Some(Bytes::new()),
                    acl: Acl::open_unsafe(),
                    flags: 0,
                },
            },
            MultiOp::Delete(DeleteRequest {
                path: "/b".into(),
                version: -1,
            }),
        ],
    };
    assert_eq!(body, Request::Multi(expected));
    assert_request_bytes(&frame, &header, &body);

    let success = hex(
        r#"00 00 00 31 | 00 00 00 06 | 00 00 00 00 00 00 00 09 | 00 00 00 00
        | 00 00 00 01 00 00 00 00 00 | 00 00 00 02 2f 61
        | 00 00 00 02 00 00 00 00 00 | ff ff ff ff 01 ff ff ff ff"#,
    );
    let (header, body) = reply(OpCode::Multi, &success);
    assert_eq!(
        header,
        ReplyHeader {
            xid: 6,
            zxid: 9,
            err: 0
        }
    );
    assert_eq!(
        body,
        Response::Multi(MultiResponse {
            results: vec![
                MultiResult::Create { path: "/a".into() },
                MultiResult::Delete
            ],
        })
    );
    assert_reply_bytes(&success, &header, &body);

    let failure = hex(
        r#"00 00 00 33 | 00 00 00 06 | 00 00 00 00 00 00 00 09 | 00 00 00 00
        | ff ff ff ff 00 00 00 00 00 | 00 00 00 00
        | ff ff ff ff 00 ff ff ff 9b | ff ff ff 9b
        | ff ff ff ff 01 ff ff ff ff"#,
    );
    let (header, body) = reply(OpCode::Multi, &failure);
    assert_eq!(
        body,
        Response::Multi(MultiResponse {
            results: vec![
                MultiResult::Error { err: 0 },
                MultiResult::Error { err: -101 }
            ],
        })
    );
    assert_reply_bytes(&failure, &header, &body);
    assert_eq!(&frame_of(&header)[4..], &failure[4..20]);
    assert_eq!(zk_proto::codec::frame(&header).len(), 20);
}
