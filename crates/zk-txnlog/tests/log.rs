#![allow(clippy::unwrap_used)]
//! Append, read back, roll, truncate, reopen, purge through the public API.

mod common;

use std::sync::Arc;

use common::{payload, read_all, segments, small_options};
use zk_txnlog::{LogError, LogOptions, SnapshotStore, TxnLog, purge};

fn append_range(log: &TxnLog, zxids: impl Iterator<Item = i64>) {
    let handles: Vec<_> = zxids
        .map(|z| log.append(z, payload(z, 300)).unwrap())
        .collect();
    for handle in handles {
        handle.wait().unwrap();
    }
}

#[test]
fn appended_records_read_back_in_order_across_segments_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (log, report) = TxnLog::open(dir.path(), small_options()).unwrap();
    assert_eq!(report.last_zxid, -1);
    for chunk in 0..10 {
        append_range(&log, (chunk * 30 + 1)..=(chunk * 30 + 30));
    }
    assert!(
        segments(dir.path()).len() >= 3,
        "the log should have rolled"
    );
    let expected: Vec<(i64, Vec<u8>)> = (1..=300).map(|z| (z, payload(z, 300))).collect();
    assert_eq!(read_all(&log), expected);
    let from_middle: Vec<i64> = log.iter_from(123).unwrap().map(|r| r.unwrap().0).collect();
    assert_eq!(from_middle, (123..=300).collect::<Vec<_>>());
    drop(log);

    let (log, report) = TxnLog::open(dir.path(), small_options()).unwrap();
    assert_eq!(report.last_zxid, 300);
    assert_eq!(report.records, 300);
    assert_eq!(report.first_zxid, Some(1));
    assert!(report.torn_tail.is_none());
    assert_eq!(log.last_logged_zxid(), 300);
    assert_eq!(read_all(&log), expected);
    append_range(&log, 301..=310);
    assert_eq!(read_all(&log).len(), 310);
}

#[test]
fn zxids_must_increase_and_nothing_is_written_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = TxnLog::open(dir.path(), LogOptions::default()).unwrap();
    log.append(5, &b"five"[..]).unwrap().wait().unwrap();
    assert!(matches!(
        log.append(5, &b"again"[..]),
        Err(LogError::ZxidNotIncreasing { zxid: 5, last: 5 })
    ));
    assert!(matches!(
        log.append(3, &b"older"[..]),
        Err(LogError::ZxidNotIncreasing { .. })
    ));
    assert!(matches!(
        log.append(-2, &b""[..]),
        Err(LogError::NegativeZxid(-2))
    ));
    log.append(6, &b""[..]).unwrap().wait().unwrap();
    assert_eq!(read_all(&log), vec![(5, b"five".to_vec()), (6, Vec::new())]);
}

#[test]
fn concurrent_writers_share_syncs_and_every_record_lands() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = TxnLog::open(dir.path(), small_options()).unwrap();
    let log = Arc::new(log);
    let next = Arc::new(std::sync::Mutex::new(0i64));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (log, next) = (Arc::clone(&log), Arc::clone(&next));
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let handle = {
                        let mut next = next.lock().unwrap();
                        *next += 1;
                        log.append(*next, payload(*next, 100)).unwrap()
                    };
                    let zxid = handle.zxid();
                    handle.wait().unwrap();
                    assert!(*log.durable_zxid().borrow() >= zxid);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let zxids: Vec<i64> = read_all(&log).into_iter().map(|(z, _)| z).collect();
    assert_eq!(zxids, (1..=400).collect::<Vec<_>>());
    // Every record went through exactly one counted sync.
    let batches = log.sync_stats().batch_records();
    assert_eq!(batches.sum, 400);
    assert!(batches.count >= 1 && batches.count <= 400);
    assert_eq!(log.sync_stats().sync_ms().count, batches.count);
}

#[test]
fn syncs_over_the_threshold_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let options = LogOptions {
        slow_sync_warning: std::time::Duration::ZERO,
        ..small_options()
    };
    let (log, _) = TxnLog::open(dir.path(), options).unwrap();
    append_range(&log, 1..=3);
    let stats = log.sync_stats();
    assert!(stats.slow_syncs() >= 1);
    assert_eq!(stats.slow_syncs(), stats.sync_ms().count);
}

#[tokio::test]
async fn appended_handles_and_the_watermark_work_in_async_code() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = TxnLog::open(dir.path(), LogOptions::default()).unwrap();
    let mut durable = log.durable_zxid();
    let first = log.append(1, &b"a"[..]).unwrap();
    let second = log.append(2, &b"b"[..]).unwrap();
    first.await.unwrap();
    second.await.unwrap();
    durable.wait_for(|z| *z >= 2).await.unwrap();
    assert_eq!(log.last_logged_zxid(), 2);
}

#[test]
fn truncate_after_keeps_exactly_the_records_at_or_below_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = TxnLog::open(dir.path(), small_options()).unwrap();
    for chunk in 0..8 {
        append_range(&log, (chunk * 40 + 1)..=(chunk * 40 + 40));
    }
    let before = segments(dir.path()).len();
    // Cut in the middle of an early segment (zxid 100 exists).
    log.truncate_after(100).unwrap();
    assert_eq!(log.last_logged_zxid(), 100);
    assert!(segments(dir.path()).len() < before);
    assert_eq!(
        read_all(&log).iter().map(|(z, _)| *z).collect::<Vec<_>>(),
        (1..=100).collect::<Vec<_>>()
    );
    // Appends continue above the cut, even below the old end.
    append_range(&log, 101..=150);
    // A cut point that is not itself a record.
    log.append(1000, &b"gap"[..]).unwrap().wait().unwrap();
    log.truncate_after(999).unwrap();
    assert_eq!(log.last_logged_zxid(), 150);
    drop(log);
    let (log, report) = TxnLog::open(dir.path(), small_options()).unwrap();
    assert!(report.torn_tail.is_none());
    assert_eq!(report.last_zxid, 150);
    let all = read_all(&log);
    assert_eq!(all.len(), 150);
    assert_eq!(all[120], (121, payload(121, 300)));
    // Truncating below everything empties the log; it then restarts anywhere.
    log.truncate_after(0).unwrap();
    assert_eq!(log.last_logged_zxid(), -1);
    assert!(read_all(&log).is_empty());
    log.append(7, &b"x"[..]).unwrap().wait().unwrap();
    assert_eq!(read_all(&log), vec![(7, b"x".to_vec())]);
}

#[test]
fn a_log_from_another_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = TxnLog::open(dir.path(), LogOptions::default()).unwrap();
    log.append(1, &b"a"[..]).unwrap().wait().unwrap();
    drop(log);
    let other = LogOptions {
        db_id: 99,
        ..LogOptions::default()
    };
    assert!(matches!(
        TxnLog::open(dir.path(), other),
        Err(LogError::BadFile { .. })
    ));
}

#[test]
fn the_space_ahead_of_the_data_is_written_with_zeros_and_reads_back_as_the_end() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = TxnLog::open(dir.path(), LogOptions::default()).unwrap();
    append_range(&log, 1..=3);
    // The writer fills the space after answering the batch: the next batch finds it done.
    append_range(&log, 4..=5);
    let file = &segments(dir.path())[0];
    let meta = std::fs::metadata(file).unwrap();
    assert_eq!(meta.len(), 64 << 20, "preallocated by length");
    let on_disk = meta.blocks() * 512;
    assert!(
        (1 << 20..8 << 20).contains(&on_disk),
        "about a MiB of zeros written ahead, not the whole preallocation: {on_disk} bytes"
    );
    drop(log);
    let (log, report) = TxnLog::open(dir.path(), LogOptions::default()).unwrap();
    assert_eq!(report.last_zxid, 5);
    assert!(report.torn_tail.is_none(), "zeros are the end of the data");
    append_range(&log, 6..=7);
    assert_eq!(
        read_all(&log).iter().map(|r| r.0).collect::<Vec<_>>(),
        (1..=7).collect::<Vec<_>>()
    );
}

#[test]
fn an_empty_last_segment_left_by_a_crash_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = TxnLog::open(dir.path(), LogOptions::default()).unwrap();
    append_range(&log, 1..=3);
    drop(log);
    // A crash right after creating the next segment, before its header reached the disk.
    std::fs::write(dir.path().join("log.0000000000000004"), b"").unwrap();
    let (log, report) = TxnLog::open(dir.path(), LogOptions::default()).unwrap();
    assert_eq!(report.removed_segments.len(), 1);
    assert_eq!(report.last_zxid, 3);
    append_range(&log, 4..=5);
    assert_eq!(read_all(&log).len(), 5);
}

#[test]
fn purge_keeps_three_snapshots_and_the_segments_they_need() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = TxnLog::open(dir.path().join("log"), small_options()).unwrap();
    let snapshots = SnapshotStore::open(dir.path().join("snap")).unwrap();
    for round in 0..6i64 {
        append_range(&log, (round * 100 + 1)..=(round * 100 + 100));
        let zxid = round * 100 + 100;
        snapshots
            .write(zxid, |w| w.write_all(&zxid.to_le_bytes()))
            .unwrap();
    }
    let segments_before = segments(log.dir()).len();
    let report = purge(&log, &snapshots, 1).unwrap();
    assert_eq!(report.oldest_kept_snapshot, Some(400));
    assert_eq!(snapshots.list().unwrap(), vec![400, 500, 600]);
    assert!(!report.deleted_segments.is_empty());
    assert_eq!(
        segments(log.dir()).len(),
        segments_before - report.deleted_segments.len()
    );
    // Replay from the oldest kept snapshot still works.
    let replay: Vec<i64> = log.iter_from(401).unwrap().map(|r| r.unwrap().0).collect();
    assert_eq!(replay, (401..=600).collect::<Vec<_>>());
    // And appends continue.
    append_range(&log, 601..=610);
    drop(log);
    let (log, report) = TxnLog::open(dir.path().join("log"), small_options()).unwrap();
    assert_eq!(report.last_zxid, 610);
    assert!(report.first_zxid.unwrap() <= 401);
    assert_eq!(log.iter_from(401).unwrap().count(), 210);
}
