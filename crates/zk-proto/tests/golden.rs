//! Every frame captured between kazoo 2.11 and Apache ZooKeeper 3.8.0 (tests/golden, see its
//! README) decodes with our codec and re-encodes to the identical bytes. Requests that the
//! real server answered with MarshallingError (-5) or Unimplemented (-6) must fail to decode.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::path::Path;

use bytes::BytesMut;
use common::{hex, payload};
use serde_json::Value;
use zk_proto::codec::frame;
use zk_proto::request::write_request_frame;
use zk_proto::response::write_reply_frame;
use zk_proto::{
    ConnectRequest, ConnectResponse, Decode, DecodeError, ErrorCode, FourLetterWord, OpCode,
    Reader, ReplyHeader, Request, RequestHeader, Response,
};

#[derive(Debug)]
struct Row {
    conn: u64,
    dir: String,
    kind: String,
    op: Option<i32>,
    xid: Option<i32>,
    err: Option<i32>,
    note: String,
    bytes: Vec<u8>,
}

fn int(value: &Value, key: &str) -> Option<i32> {
    value[key].as_i64().map(|v| i32::try_from(v).unwrap())
}

fn load() -> Vec<Row> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/kazoo-zk38.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let value: Value = serde_json::from_str(line).unwrap();
            Row {
                conn: value["conn"].as_u64().unwrap(),
                dir: value["dir"].as_str().unwrap().to_owned(),
                kind: value["kind"].as_str().unwrap().to_owned(),
                op: int(&value, "op"),
                xid: int(&value, "xid"),
                err: int(&value, "err"),
                note: value["note"].as_str().unwrap_or_default().to_owned(),
                bytes: hex(value["hex"].as_str().unwrap()),
            }
        })
        .collect()
}

/// Decodes a request frame and re-encodes it. `Err` is the decode error, if any.
fn check_request(row: &Row) -> Result<(), DecodeError> {
    let mut r = Reader::new(payload(&row.bytes));
    let header = RequestHeader::decode(&mut r).unwrap();
    assert_eq!(Some(header.xid), row.xid);
    assert_eq!(Some(header.op_code), row.op);
    let op = OpCode::try_from(header.op_code)?;
    let request = Request::decode(op, &mut r)?;
    assert!(
        r.is_empty(),
        "{}: {} bytes left over",
        row.note,
        r.remaining()
    );
    let mut out = BytesMut::new();
    write_request_frame(&mut out, header.xid, &request);
    assert_eq!(&out[..], &row.bytes[..], "{}: {request:?}", row.note);
    Ok(())
}

fn check_reply(row: &Row) {
    let mut r = Reader::new(payload(&row.bytes));
    let header = ReplyHeader::decode(&mut r).unwrap();
    assert_eq!(Some(header.xid), row.xid);
    assert_eq!(Some(header.err), row.err);
    let response = match row.op.map(OpCode::try_from) {
        Some(Ok(op)) => Response::decode(op, &header, &mut r).unwrap(),
        // Notifications (no request) and the unknown opcode (header only).
        None | Some(Err(_)) => {
            Response::decode(OpCode::Notification, &header, &mut r).unwrap_or(Response::Empty)
        }
    };
    assert!(
        r.is_empty(),
        "{}: {} bytes left over",
        row.note,
        r.remaining()
    );
    if row.kind == "notification" {
        assert!(
            matches!(response, Response::Notification(_)),
            "{}",
            row.note
        );
    }
    let mut out = BytesMut::new();
    write_reply_frame(&mut out, &header, response.body());
    assert_eq!(&out[..], &row.bytes[..], "{}: {response:?}", row.note);
}

fn check_connect(row: &Row) {
    let mut r = Reader::new(payload(&row.bytes));
    let encoded = if row.dir == "request" {
        frame(&ConnectRequest::decode(&mut r).unwrap())
    } else {
        frame(&ConnectResponse::decode(&mut r).unwrap())
    };
    assert!(r.is_empty(), "{}", row.note);
    assert_eq!(&encoded[..], &row.bytes[..], "{}", row.note);
}

#[test]
fn every_captured_frame_round_trips() {
    let rows = load();
    assert!(rows.len() > 300, "the capture has {} frames", rows.len());
    let reply_errs: HashMap<(u64, i32, i32), Vec<i32>> = rows
        .iter()
        .filter(|row| row.dir == "reply" && row.kind == "op")
        .fold(HashMap::new(), |mut map, row| {
            let key = (row.conn, row.xid.unwrap(), row.op.unwrap());
            map.entry(key).or_default().push(row.err.unwrap());
            map
        });

    let mut checked = 0;
    let mut refused = Vec::new();
    for row in &rows {
        match (row.kind.as_str(), row.dir.as_str()) {
            ("connect", _) => check_connect(row),
            ("fourlw", "request") => {
                let word = FourLetterWord::from_first_four(&row.bytes).unwrap();
                assert_eq!(&word.bytes()[..], &row.bytes[..]);
            }
            ("fourlw", _) => assert!(!row.bytes.is_empty(), "{}", row.note),
            ("op", "request") => {
                if let Err(err) = check_request(row) {
                    let key = (row.conn, row.xid.unwrap(), row.op.unwrap());
                    let server = reply_errs.get(&key).cloned().unwrap_or_default();
                    let expected = if matches!(err, DecodeError::UnknownOpCode(_)) {
                        ErrorCode::Unimplemented
                    } else {
                        ErrorCode::MarshallingError
                    };
                    assert!(
                        server.contains(&expected.code()),
                        "{}: we refuse ({err}) but the server answered {server:?}",
                        row.note
                    );
                    refused.push(format!("{} [{err}]", row.note));
                }
            }
            ("op" | "notification", "reply") => check_reply(row),
            other => panic!("unexpected row kind {other:?}"),
        }
        checked += 1;
    }
    assert_eq!(checked, rows.len());
    // The capture holds a few deliberately malformed requests; all of them, and nothing
    // else, must be refused.
    println!("{checked} frames checked; refused as the server did: {refused:#?}");
    assert!(!refused.is_empty() && refused.len() < 10, "{refused:#?}");
}
