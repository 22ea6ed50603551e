#![allow(clippy::unwrap_used)]
//! Torn writes: cut the last segment at every byte inside its last records; recovery keeps every whole
//! record before the cut, nothing after it, and appending afterwards works.

mod common;

use std::fs::OpenOptions;
use std::path::Path;

use common::{copy_dir, payload, read_all, segments, small_options};
use zk_txnlog::TxnLog;
use zk_txnlog::format::{SEGMENT_HEADER_LEN, encoded_len};

const RECORDS: i64 = 12;
const MAX_PAYLOAD: usize = 40;

/// How the bytes after the cut look.
#[derive(Debug, Clone, Copy)]
enum AfterCut {
    /// The file simply ends (the write never extended it).
    EndOfFile,
    /// Preallocated zeros (the rest of the write never reached the disk).
    Zeros,
    /// Garbage: the last record's checksum fails and nothing valid follows.
    Garbage,
}

fn build_pristine(dir: &Path) -> Vec<usize> {
    let (log, _) = TxnLog::open(dir, small_options()).unwrap();
    // One group commit per record, like a quiet server.
    for zxid in 1..=RECORDS {
        log.append(zxid, payload(zxid, MAX_PAYLOAD))
            .unwrap()
            .wait()
            .unwrap();
    }
    drop(log);
    let mut ends = Vec::new();
    let mut end = SEGMENT_HEADER_LEN;
    for zxid in 1..=RECORDS {
        end += encoded_len(payload(zxid, MAX_PAYLOAD).len());
        ends.push(end);
    }
    ends
}

fn damage(segment: &Path, cut: usize, after: AfterCut) {
    let file = OpenOptions::new().write(true).open(segment).unwrap();
    let full_len = file.metadata().unwrap().len();
    match after {
        AfterCut::EndOfFile => file.set_len(cut as u64).unwrap(),
        AfterCut::Zeros => {
            file.set_len(cut as u64).unwrap();
            file.set_len(full_len).unwrap();
        }
        AfterCut::Garbage => {
            let mut bytes = std::fs::read(segment).unwrap();
            let end = bytes.iter().rposition(|b| *b != 0).unwrap() + 1;
            for (i, byte) in bytes[cut..end].iter_mut().enumerate() {
                *byte = 0xA5 ^ (i as u8);
            }
            std::fs::write(segment, bytes).unwrap();
        }
    }
}

#[test]
fn recovery_keeps_exactly_the_whole_records_before_any_cut() {
    let pristine = tempfile::tempdir().unwrap();
    let ends = build_pristine(pristine.path());
    let data_end = *ends.last().unwrap();
    let first_cut = ends[ends.len() - 4]; // inside the last three records
    let mut checked = 0;
    for after in [AfterCut::EndOfFile, AfterCut::Zeros, AfterCut::Garbage] {
        for cut in first_cut..=data_end {
            if matches!(after, AfterCut::Garbage) && cut == data_end {
                continue;
            }
            let work = tempfile::tempdir().unwrap();
            copy_dir(pristine.path(), work.path());
            let segment = segments(work.path()).pop().unwrap();
            damage(&segment, cut, after);

            let (log, report) = TxnLog::open(work.path(), small_options())
                .unwrap_or_else(|e| panic!("cut at {cut} ({after:?}): {e}"));
            let whole = ends.iter().filter(|end| **end <= cut).count() as i64;
            let at_boundary = ends.contains(&cut);
            assert_eq!(report.last_zxid, whole, "cut at {cut} ({after:?})");
            assert_eq!(
                report.torn_tail.is_some(),
                !at_boundary || matches!(after, AfterCut::Garbage),
                "cut at {cut} ({after:?}): {report:?}"
            );
            let expected: Vec<(i64, Vec<u8>)> =
                (1..=whole).map(|z| (z, payload(z, MAX_PAYLOAD))).collect();
            assert_eq!(read_all(&log), expected, "cut at {cut} ({after:?})");

            checked += 1;
            // Appending afterwards works and survives another reopen (checked for a quarter of the
            // cuts and every record boundary, to keep the suite fast).
            if cut % 4 != 0 && !at_boundary {
                continue;
            }
            log.append(whole + 1, &b"after recovery"[..])
                .unwrap()
                .wait()
                .unwrap();
            drop(log);
            let (log, report) = TxnLog::open(work.path(), small_options()).unwrap();
            assert!(report.torn_tail.is_none());
            let mut expected = expected;
            expected.push((whole + 1, b"after recovery".to_vec()));
            assert_eq!(read_all(&log), expected, "cut at {cut} ({after:?})");
        }
    }
    assert!(checked > 300, "only {checked} cuts checked");
}
