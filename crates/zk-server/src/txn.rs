//! Transactions: what the write path logs and every server applies, in zxid order.
//!
//! A transaction records *resulting* state (the new version, the parent's new child counter, the
//! final sequential path), never a delta, so that applying it twice or on top of a newer snapshot
//! is harmless. The byte format is ours (jute-style big-endian fields) and lives only in our logs.

use bytes::{BufMut, Bytes, BytesMut};
use zk_proto::jute::{Decode, Encode, Reader};
use zk_proto::{Acl, DecodeError};

use crate::tree::{SharedAcl, intern_acl};

/// Who asked for the transaction and when; the zxid is the log record's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnHeader {
    pub session_id: i64,
    pub cxid: i32,
    pub zxid: i64,
    /// Wall-clock milliseconds when the leader prepared it (ctime/mtime of what it touches).
    pub time: i64,
}

/// A committed change to the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Txn {
    CreateSession {
        timeout: i32,
    },
    /// Closes the session and deletes its ephemerals (listed as prepared, for the record).
    CloseSession {
        ephemerals: Vec<String>,
    },
    Create {
        path: String,
        data: Option<Bytes>,
        acl: SharedAcl,
        /// Raw ephemeralOwner: a session id, 0, or the container/TTL marker.
        owner: i64,
        /// The parent's child-create counter after this create.
        parent_cversion: i32,
    },
    Delete {
        path: String,
    },
    SetData {
        path: String,
        data: Option<Bytes>,
        /// The node's version after the change.
        version: i32,
    },
    SetAcl {
        path: String,
        acl: SharedAcl,
        /// The node's ACL version after the change.
        version: i32,
    },
    /// A version check inside a multi: changes nothing.
    Check {
        path: String,
        version: i32,
    },
    /// A committed reconfig: the ensemble's new configuration text, `/zookeeper/config`'s data.
    Reconfig {
        config: Bytes,
    },
    /// A write that failed its checks still takes a zxid, as in ZooKeeper.
    Error {
        err: i32,
    },
    Multi(Vec<Txn>),
}

const CREATE_SESSION: i32 = -10;
const CLOSE_SESSION: i32 = -11;
const CREATE: i32 = 1;
const DELETE: i32 = 2;
const SET_DATA: i32 = 5;
const SET_ACL: i32 = 7;
const CHECK: i32 = 13;
const MULTI: i32 = 14;
const RECONFIG: i32 = 16;
const ERROR: i32 = -1;

impl Txn {
    fn type_code(&self) -> i32 {
        match self {
            Txn::CreateSession { .. } => CREATE_SESSION,
            Txn::CloseSession { .. } => CLOSE_SESSION,
            Txn::Create { .. } => CREATE,
            Txn::Delete { .. } => DELETE,
            Txn::SetData { .. } => SET_DATA,
            Txn::SetAcl { .. } => SET_ACL,
            Txn::Check { .. } => CHECK,
            Txn::Reconfig { .. } => RECONFIG,
            Txn::Error { .. } => ERROR,
            Txn::Multi(_) => MULTI,
        }
    }

    fn encode_body(&self, buf: &mut BytesMut) {
        match self {
            Txn::CreateSession { timeout } => buf.put_i32(*timeout),
            Txn::CloseSession { ephemerals } => {
                put_len(buf, ephemerals.len());
                for path in ephemerals {
                    put_str(buf, path);
                }
            }
            Txn::Create {
                path,
                data,
                acl,
                owner,
                parent_cversion,
            } => {
                put_str(buf, path);
                put_data(buf, data.as_ref());
                put_acl(buf, acl);
                buf.put_i64(*owner);
                buf.put_i32(*parent_cversion);
            }
            Txn::Delete { path } => put_str(buf, path),
            Txn::SetData {
                path,
                data,
                version,
            } => {
                put_str(buf, path);
                put_data(buf, data.as_ref());
                buf.put_i32(*version);
            }
            Txn::SetAcl { path, acl, version } => {
                put_str(buf, path);
                put_acl(buf, acl);
                buf.put_i32(*version);
            }
            Txn::Check { path, version } => {
                put_str(buf, path);
                buf.put_i32(*version);
            }
            Txn::Reconfig { config } => put_data(buf, Some(config)),
            Txn::Error { err } => buf.put_i32(*err),
            Txn::Multi(ops) => {
                put_len(buf, ops.len());
                for op in ops {
                    buf.put_i32(op.type_code());
                    op.encode_body(buf);
                }
            }
        }
    }

    fn decode_body(kind: i32, r: &mut Reader) -> Result<Txn, DecodeError> {
        Ok(match kind {
            CREATE_SESSION => Txn::CreateSession {
                timeout: r.read_i32()?,
            },
            CLOSE_SESSION => {
                let count = read_count(r)?;
                let mut ephemerals = Vec::with_capacity(count.min(r.remaining()));
                for _ in 0..count {
                    ephemerals.push(read_str(r)?);
                }
                Txn::CloseSession { ephemerals }
            }
            CREATE => Txn::Create {
                path: read_str(r)?,
                data: r.read_buffer()?,
                acl: intern_acl(&read_acl(r)?),
                owner: r.read_i64()?,
                parent_cversion: r.read_i32()?,
            },
            DELETE => Txn::Delete { path: read_str(r)? },
            SET_DATA => Txn::SetData {
                path: read_str(r)?,
                data: r.read_buffer()?,
                version: r.read_i32()?,
            },
            SET_ACL => Txn::SetAcl {
                path: read_str(r)?,
                acl: intern_acl(&read_acl(r)?),
                version: r.read_i32()?,
            },
            CHECK => Txn::Check {
                path: read_str(r)?,
                version: r.read_i32()?,
            },
            RECONFIG => Txn::Reconfig {
                config: r.read_buffer()?.unwrap_or_default(),
            },
            ERROR => Txn::Error { err: r.read_i32()? },
            MULTI => {
                let count = read_count(r)?;
                let mut ops = Vec::with_capacity(count.min(r.remaining()));
                for _ in 0..count {
                    let kind = r.read_i32()?;
                    if kind == MULTI {
                        return Err(DecodeError::UnknownOpCode(kind));
                    }
                    ops.push(Txn::decode_body(kind, r)?);
                }
                Txn::Multi(ops)
            }
            other => return Err(DecodeError::UnknownOpCode(other)),
        })
    }
}

/// Serialises a header and a transaction into one log record, appended to `records` and split
/// off as its own `Bytes`. The write path encodes every record into one large buffer: the records
/// then share its chunks, instead of each being a small allocation freed by the log's thread,
/// whose leftovers would fragment the heap the data tree's nodes are allocated from.
pub fn encode_into(records: &mut BytesMut, header: &TxnHeader, txn: &Txn) -> Bytes {
    records.put_i64(header.session_id);
    records.put_i32(header.cxid);
    records.put_i64(header.zxid);
    records.put_i64(header.time);
    records.put_i32(txn.type_code());
    txn.encode_body(records);
    records.split().freeze()
}

/// The configuration a log record puts in force, when it is a reconfig; other records are
/// only looked at as far as their type.
pub fn reconfig_config(record: &Bytes) -> Option<Bytes> {
    // The header (session id, cxid, zxid, time) takes 28 bytes; the type follows.
    let kind = record.get(28..32)?;
    if i32::from_be_bytes(kind.try_into().ok()?) != RECONFIG {
        return None;
    }
    match decode(record.clone()) {
        Ok((_, Txn::Reconfig { config })) => Some(config),
        _ => None,
    }
}

/// Reads a log record back.
pub fn decode(record: Bytes) -> Result<(TxnHeader, Txn), DecodeError> {
    let mut r = Reader::new(record);
    let header = TxnHeader {
        session_id: r.read_i64()?,
        cxid: r.read_i32()?,
        zxid: r.read_i64()?,
        time: r.read_i64()?,
    };
    let kind = r.read_i32()?;
    let txn = Txn::decode_body(kind, &mut r)?;
    Ok((header, txn))
}

fn put_len(buf: &mut BytesMut, len: usize) {
    buf.put_i32(i32::try_from(len).unwrap_or(i32::MAX));
}

fn put_str(buf: &mut BytesMut, s: &str) {
    put_len(buf, s.len());
    buf.put_slice(s.as_bytes());
}

fn put_data(buf: &mut BytesMut, data: Option<&Bytes>) {
    match data {
        Some(data) => {
            put_len(buf, data.len());
            buf.put_slice(data);
        }
        None => buf.put_i32(-1),
    }
}

fn put_acl(buf: &mut BytesMut, acl: &[Acl]) {
    put_len(buf, acl.len());
    for entry in acl {
        entry.encode(buf);
    }
}

fn read_count(r: &mut Reader) -> Result<usize, DecodeError> {
    let count = r.read_i32()?;
    usize::try_from(count).map_err(|_| DecodeError::NegativeLength(count))
}

fn read_str(r: &mut Reader) -> Result<String, DecodeError> {
    r.read_ustring()?
        .ok_or(DecodeError::NullNotAllowed { field: "path" })
}

fn read_acl(r: &mut Reader) -> Result<Vec<Acl>, DecodeError> {
    let count = read_count(r)?;
    let mut acl = Vec::with_capacity(count.min(r.remaining()));
    for _ in 0..count {
        acl.push(Acl::decode(r)?);
    }
    Ok(acl)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::open_acl_unsafe;

    /// One record in a buffer of its own.
    fn encode(header: &TxnHeader, txn: &Txn) -> Bytes {
        encode_into(&mut BytesMut::new(), header, txn)
    }

    #[test]
    fn every_kind_round_trips() {
        let header = TxnHeader {
            session_id: 0x0100_0000_0000_0001,
            cxid: 7,
            zxid: 0x1_0000_0005,
            time: 1_700_000_000_000,
        };
        let txns = vec![
            Txn::CreateSession { timeout: 30_000 },
            Txn::CloseSession {
                ephemerals: vec!["/e1".into(), "/e2".into()],
            },
            Txn::Create {
                path: "/a".into(),
                data: Some(Bytes::from_static(b"hello")),
                acl: intern_acl(&open_acl_unsafe()),
                owner: i64::MIN,
                parent_cversion: 3,
            },
            Txn::Create {
                path: "/n".into(),
                data: None,
                acl: intern_acl(&open_acl_unsafe()),
                owner: 0,
                parent_cversion: 1,
            },
            Txn::Delete { path: "/a".into() },
            Txn::SetData {
                path: "/a".into(),
                data: Some(Bytes::new()),
                version: 4,
            },
            Txn::SetAcl {
                path: "/a".into(),
                acl: intern_acl(&open_acl_unsafe()),
                version: 2,
            },
            Txn::Reconfig {
                config: Bytes::from_static(b"server.1=h:1:2:participant\nversion=100000002"),
            },
            Txn::Error { err: -110 },
            Txn::Multi(vec![
                Txn::Check {
                    path: "/a".into(),
                    version: 1,
                },
                Txn::Delete { path: "/b".into() },
            ]),
        ];
        for txn in txns {
            let bytes = encode(&header, &txn);
            assert_eq!(decode(bytes).unwrap(), (header, txn));
        }
    }

    #[test]
    fn only_a_reconfig_record_has_a_configuration() {
        let header = TxnHeader {
            session_id: 1,
            cxid: 2,
            zxid: 0x2_0000_0003,
            time: 4,
        };
        let text = Bytes::from_static(b"server.1=h:1:2:participant\nversion=200000003");
        let reconfig = encode(
            &header,
            &Txn::Reconfig {
                config: text.clone(),
            },
        );
        assert_eq!(reconfig_config(&reconfig), Some(text));
        let set_data = encode(
            &header,
            &Txn::SetData {
                path: "/zookeeper/config".into(),
                data: Some(Bytes::from_static(b"x")),
                version: -1,
            },
        );
        assert_eq!(reconfig_config(&set_data), None);
        assert_eq!(
            reconfig_config(&reconfig.slice(..30)),
            None,
            "too short to be typed"
        );
    }

    #[test]
    fn records_split_off_one_buffer_stand_alone() {
        let mut records = BytesMut::with_capacity(64);
        let mut encoded = Vec::new();
        for zxid in 1..=20 {
            let header = TxnHeader {
                session_id: 7,
                cxid: 1,
                zxid,
                time: 1,
            };
            let txn = Txn::SetData {
                path: format!("/n{zxid}"),
                data: Some(Bytes::from(vec![7; 40])),
                version: 1,
            };
            let record = encode_into(&mut records, &header, &txn);
            assert_eq!(record, encode(&header, &txn));
            encoded.push((record, header, txn));
        }
        assert!(records.is_empty());
        for (record, header, txn) in encoded {
            assert_eq!(decode(record).unwrap(), (header, txn));
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let header = TxnHeader {
            session_id: 1,
            cxid: 1,
            zxid: 1,
            time: 1,
        };
        let full = encode(
            &header,
            &Txn::Create {
                path: "/abc".into(),
                data: Some(Bytes::from_static(b"x")),
                acl: intern_acl(&open_acl_unsafe()),
                owner: 0,
                parent_cversion: 1,
            },
        );
        for cut in 0..full.len() {
            assert!(decode(full.slice(..cut)).is_err(), "cut at {cut}");
        }
    }
}
