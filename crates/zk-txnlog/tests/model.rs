#![allow(clippy::unwrap_used)]
//! Property test: random sequences of appends (with zxid jumps like a new epoch), truncations,
//! snapshot writes and reopens. After every reopen and at the end, the state rebuilt from the newest
//! valid snapshot plus log replay equals the model's state at the last durable zxid.
//!
//! This test turns `sync` off (explicitly allowed for tests): it checks the logic of recovery and
//! replay, not the disk; durability is covered by the crash and full-disk tests.

mod common;

use std::io::Read;

use proptest::prelude::*;
use zk_txnlog::{LogOptions, SnapshotStore, TxnLog};

#[derive(Debug, Clone)]
enum Op {
    /// Payload sizes of a group of records, and how far the first zxid jumps ahead.
    Append {
        sizes: Vec<usize>,
        jump: i64,
    },
    /// Truncate to `back` records before the end.
    Truncate {
        back: usize,
    },
    Snapshot,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (proptest::collection::vec(0usize..300, 1..12), prop_oneof![3 => Just(1i64), 1 => 2i64..1000])
            .prop_map(|(sizes, jump)| Op::Append { sizes, jump }),
        1 => (0usize..40).prop_map(|back| Op::Truncate { back }),
        1 => Just(Op::Snapshot),
        1 => Just(Op::Reopen),
    ]
}

fn options() -> LogOptions {
    LogOptions {
        segment_size: 2048,
        prealloc_size: 1024,
        sync: false,
        ..LogOptions::default()
    }
}

fn payload(zxid: i64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (zxid as usize + i) as u8).collect()
}

/// The "state machine" a snapshot captures: every record so far, length-prefixed.
fn encode_state(records: &[(i64, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (zxid, payload) in records {
        out.extend_from_slice(&zxid.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(payload);
    }
    out
}

fn decode_state(mut bytes: &[u8]) -> Vec<(i64, Vec<u8>)> {
    let mut records = Vec::new();
    while !bytes.is_empty() {
        let zxid = i64::from_le_bytes(bytes[..8].try_into().unwrap());
        let len = u64::from_le_bytes(bytes[8..16].try_into().unwrap()) as usize;
        records.push((zxid, bytes[16..16 + len].to_vec()));
        bytes = &bytes[16 + len..];
    }
    records
}

/// Snapshot + replay, the way a server restarts.
fn rebuild(log: &TxnLog, snapshots: &SnapshotStore) -> Vec<(i64, Vec<u8>)> {
    let (mut state, from) = match snapshots.latest_valid().unwrap() {
        Some(mut reader) => {
            let mut bytes = Vec::new();
            reader.read_to_end(&mut bytes).unwrap();
            (decode_state(&bytes), reader.zxid() + 1)
        }
        None => (Vec::new(), 0),
    };
    for record in log.iter_from(from).unwrap() {
        let (zxid, payload) = record.unwrap();
        state.push((zxid, payload.to_vec()));
    }
    state
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn snapshot_plus_replay_equals_the_model(ops in proptest::collection::vec(op(), 1..30)) {
        let dir = tempfile::tempdir().unwrap();
        let log_dir = dir.path().join("log");
        let snapshots = SnapshotStore::open(dir.path().join("snap")).unwrap();
        let (mut log, _) = TxnLog::open(&log_dir, options()).unwrap();
        let mut model: Vec<(i64, Vec<u8>)> = Vec::new();
        let mut next = 1i64;
        for op in ops {
            match op {
                Op::Append { sizes, jump } => {
                    next += jump - 1;
                    let handles: Vec<_> = sizes
                        .iter()
                        .map(|len| {
                            let zxid = next;
                            next += 1;
                            model.push((zxid, payload(zxid, *len)));
                            log.append(zxid, payload(zxid, *len)).unwrap()
                        })
                        .collect();
                    for handle in handles {
                        handle.wait().unwrap();
                    }
                }
                Op::Truncate { back } => {
                    let keep = model.len().saturating_sub(back);
                    let cut = if keep == 0 { 0 } else { model[keep - 1].0 };
                    model.truncate(keep);
                    log.truncate_after(cut).unwrap();
                    // Snapshots beyond a TRUNC point describe history this server no longer has.
                    snapshots.remove_newer_than(cut).unwrap();
                    prop_assert_eq!(log.last_logged_zxid(), model.last().map_or(-1, |r| r.0));
                }
                Op::Snapshot => {
                    if let Some((zxid, _)) = model.last() {
                        let state = encode_state(&model);
                        snapshots.write(*zxid, |w| w.write_all(&state)).unwrap();
                    }
                }
                Op::Reopen => {
                    drop(log);
                    let (reopened, report) = TxnLog::open(&log_dir, options()).unwrap();
                    log = reopened;
                    prop_assert!(report.torn_tail.is_none());
                    prop_assert_eq!(report.last_zxid, model.last().map_or(-1, |r| r.0));
                    prop_assert_eq!(&rebuild(&log, &snapshots), &model);
                }
            }
        }
        prop_assert_eq!(&rebuild(&log, &snapshots), &model);
        let all: Vec<(i64, Vec<u8>)> = log
            .iter_from(0)
            .unwrap()
            .map(|r| r.map(|(z, p)| (z, p.to_vec())))
            .collect::<Result<_, _>>()
            .unwrap();
        prop_assert_eq!(all, model);
    }
}
