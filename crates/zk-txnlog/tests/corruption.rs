#![allow(clippy::unwrap_used)]
//! Damage before the tail is refused with an error naming file and offset; the explicit escape hatch
//! cuts it away.

mod common;

use std::path::Path;

use common::{payload, read_all, segments, small_options};
use zk_txnlog::format::{RECORD_HEADER_LEN, SEGMENT_HEADER_LEN, encoded_len};
use zk_txnlog::{LogError, LogOptions, TxnLog};

/// Ten records, one group commit each; returns each record's offset in the single segment.
fn build(dir: &Path) -> Vec<usize> {
    let (log, _) = TxnLog::open(dir, small_options()).unwrap();
    let mut offsets = Vec::new();
    let mut offset = SEGMENT_HEADER_LEN;
    for zxid in 1..=10 {
        log.append(zxid, payload(zxid, 50)).unwrap().wait().unwrap();
        offsets.push(offset);
        offset += encoded_len(payload(zxid, 50).len());
    }
    offsets
}

fn flip(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= 0x08;
    std::fs::write(path, bytes).unwrap();
}

fn expect_corrupt(dir: &Path, options: LogOptions, file: &Path, offset: usize) {
    match TxnLog::open(dir, options) {
        Err(LogError::Corrupt {
            file: f, offset: o, ..
        }) => {
            assert_eq!((f.as_path(), o), (file, offset as u64));
        }
        other => panic!("expected corruption at {offset}, got {other:?}"),
    }
}

#[test]
fn a_flipped_byte_in_an_early_record_is_refused_with_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let offsets = build(dir.path());
    let segment = segments(dir.path()).pop().unwrap();
    flip(&segment, offsets[2] + RECORD_HEADER_LEN + 1);
    expect_corrupt(dir.path(), small_options(), &segment, offsets[2]);
    let message = TxnLog::open(dir.path(), small_options())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains(&segment.display().to_string()),
        "{message}"
    );
    assert!(
        message.contains(&format!("offset {}", offsets[2])),
        "{message}"
    );
    assert!(
        message.contains("truncate_corrupt_tail_at_own_risk"),
        "{message}"
    );
}

#[test]
fn a_damaged_length_field_or_a_zeroed_record_is_refused_too() {
    let dir = tempfile::tempdir().unwrap();
    let offsets = build(dir.path());
    let segment = segments(dir.path()).pop().unwrap();
    flip(&segment, offsets[4] + 1); // second byte of the length
    expect_corrupt(dir.path(), small_options(), &segment, offsets[4]);

    let dir = tempfile::tempdir().unwrap();
    let offsets = build(dir.path());
    let segment = segments(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[offsets[3]..offsets[4]].fill(0);
    std::fs::write(&segment, bytes).unwrap();
    expect_corrupt(dir.path(), small_options(), &segment, offsets[3]);
}

#[test]
fn damage_in_a_segment_that_is_not_the_last_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = TxnLog::open(dir.path(), small_options()).unwrap();
    for zxid in 1..=500 {
        log.append(zxid, payload(zxid, 200))
            .unwrap()
            .wait()
            .unwrap();
    }
    drop(log);
    let files = segments(dir.path());
    assert!(files.len() >= 3);
    // The last record of the first segment: with nothing after it in that file it would look like a
    // torn tail, but later segments exist.
    let first = &files[0];
    let len = std::fs::metadata(first).unwrap().len() as usize;
    flip(first, len - 1);
    match TxnLog::open(dir.path(), small_options()) {
        Err(LogError::Corrupt { file, .. }) => assert_eq!(&file, first),
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn the_escape_hatch_cuts_at_the_damage_and_deletes_later_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = TxnLog::open(dir.path(), small_options()).unwrap();
    for zxid in 1..=500 {
        log.append(zxid, payload(zxid, 200))
            .unwrap()
            .wait()
            .unwrap();
    }
    drop(log);
    let files = segments(dir.path());
    let second = &files[1];
    let damaged_at = SEGMENT_HEADER_LEN + RECORD_HEADER_LEN + 2;
    flip(second, damaged_at); // the first record of the second segment
    let options = LogOptions {
        truncate_corrupt_tail_at_own_risk: true,
        ..small_options()
    };
    let (log, report) = TxnLog::open(dir.path(), options).unwrap();
    let discarded = report.discarded_corruption.unwrap();
    assert_eq!(&discarded.file, second);
    assert_eq!(discarded.offset, SEGMENT_HEADER_LEN as u64);
    assert!(files.len() >= 3);
    assert_eq!(discarded.deleted_segments.len(), files.len() - 2);
    // Cut back to its header, the damaged segment held nothing and was removed as well.
    assert_eq!(report.removed_segments, vec![second.clone()]);
    let kept = read_all(&log);
    let last = kept.last().unwrap().0;
    assert_eq!(report.last_zxid, last);
    assert_eq!(
        kept.iter().map(|(z, _)| *z).collect::<Vec<_>>(),
        (1..=last).collect::<Vec<_>>()
    );
    log.append(last + 1, &b"resumed"[..])
        .unwrap()
        .wait()
        .unwrap();
    drop(log);
    // Clean from now on, without the option.
    let (_, report) = TxnLog::open(dir.path(), small_options()).unwrap();
    assert_eq!(report.last_zxid, last + 1);
}
