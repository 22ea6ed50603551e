#![allow(clippy::unwrap_used)]
//! A full disk, simulated with a file size limit (`ulimit -f`, SIGXFSZ ignored so that writes fail
//! with EFBIG): appends that cannot be made durable are reported as errors to every waiter and never
//! acknowledged, the watermark never claims them, writing resumes once space returns, and the log
//! recovers cleanly afterwards.
//!
//! The child is this same test executable, re-run under `sh` with `ZK_TXNLOG_FULL_DISK_DIR` set.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use common::{read_all, segments};
use zk_txnlog::{LogOptions, TxnLog};

const CHILD_DIR_ENV: &str = "ZK_TXNLOG_FULL_DISK_DIR";
const TEST_NAME: &str = "a_full_disk_is_reported_never_acknowledged_and_recoverable";
/// 64 KiB with dash (512-byte blocks), 128 KiB with bash (1 KiB blocks): the test does not care.
const LIMIT_BLOCKS: u32 = 128;
const CONCURRENT: usize = 6;

fn options() -> LogOptions {
    LogOptions {
        segment_size: 8 << 20,
        prealloc_size: 16 * 1024,
        ..LogOptions::default()
    }
}

fn record(zxid: i64) -> Vec<u8> {
    vec![(zxid % 250) as u8 + 1; 1000]
}

#[test]
fn a_full_disk_is_reported_never_acknowledged_and_recoverable() {
    if let Ok(dir) = std::env::var(CHILD_DIR_ENV) {
        run_child(Path::new(&dir));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {LIMIT_BLOCKS}; exec \"$0\" \"$@\""
        ))
        .arg(std::env::current_exe().unwrap())
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR_ENV, dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Replay the child's report: the latest outcome per zxid, and the truncation point.
    let mut outcome: BTreeMap<i64, bool> = BTreeMap::new();
    let mut errors = 0;
    let mut truncated_at = None;
    let mut concurrent_errors = None;
    for line in stdout.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["OK", zxid] => {
                outcome.insert(zxid.parse().unwrap(), true);
            }
            ["ERR", zxid, "no_space", no_space, "watermark", watermark] => {
                let zxid: i64 = zxid.parse().unwrap();
                assert_eq!(*no_space, "true", "{line}");
                assert!(
                    watermark.parse::<i64>().unwrap() < zxid,
                    "failed zxid claimed durable: {line}"
                );
                outcome.insert(zxid, false);
                errors += 1;
            }
            ["TRUNCATED", zxid] => {
                let zxid: i64 = zxid.parse().unwrap();
                outcome.retain(|z, _| *z <= zxid);
                truncated_at = Some(zxid);
            }
            ["CONCURRENT_ERRORS", n] => concurrent_errors = Some(n.parse::<usize>().unwrap()),
            _ => {}
        }
    }
    assert!(errors > CONCURRENT, "the limit was never hit: {stdout}");
    assert_eq!(
        concurrent_errors,
        Some(CONCURRENT),
        "every concurrent waiter must see the error"
    );
    let truncated_at = truncated_at.unwrap();
    assert!(
        outcome.range(truncated_at + 1..).all(|(_, ok)| *ok),
        "writing did not resume after space was freed: {stdout}"
    );
    assert!(outcome.range(truncated_at + 1..).count() >= 5);

    // Without the limit the log opens cleanly and holds exactly the acknowledged records.
    let (log, report) = TxnLog::open(dir.path(), options()).unwrap();
    assert!(report.torn_tail.is_none(), "{report:?}");
    assert_eq!(segments(dir.path()).len(), 1);
    let acknowledged: Vec<i64> = outcome
        .iter()
        .filter(|(_, ok)| **ok)
        .map(|(z, _)| *z)
        .collect();
    let recovered = read_all(&log);
    let zxids: Vec<i64> = recovered.iter().map(|(z, _)| *z).collect();
    assert_eq!(zxids, acknowledged, "child said: {stdout}");
    assert!(recovered.iter().all(|(z, p)| *p == record(*z)));
}

fn report_error(log: &TxnLog, zxid: i64, error: &zk_txnlog::LogError) {
    println!(
        "ERR {zxid} no_space {} watermark {}",
        error.is_no_space(),
        log.last_logged_zxid()
    );
}

/// Fills the disk, fails a concurrent batch, frees space with a truncation and resumes.
fn run_child(dir: &Path) {
    // libtest has printed "test <name> ... " without a newline: start the report on a fresh line.
    println!();
    let (log, _) = TxnLog::open(dir, options()).unwrap();
    let log = Arc::new(log);
    // 1. One writer until the limit is hit.
    let mut zxid = 1;
    loop {
        match log.append(zxid, record(zxid)).unwrap().wait() {
            Ok(()) => println!("OK {zxid}"),
            Err(error) => {
                report_error(&log, zxid, &error);
                break;
            }
        }
        zxid += 1;
        assert!(zxid < 10_000, "the file size limit is not in effect");
    }
    // 2. Several concurrent writers: every one of them gets the error, none is acknowledged.
    let next = Arc::new(Mutex::new(log.last_logged_zxid() + 1));
    let failed = Arc::new(Mutex::new(0usize));
    let threads: Vec<_> = (0..CONCURRENT)
        .map(|_| {
            let (log, next, failed) = (Arc::clone(&log), Arc::clone(&next), Arc::clone(&failed));
            std::thread::spawn(move || {
                let handle = {
                    let mut next = next.lock().unwrap();
                    let zxid = *next;
                    *next += 1;
                    log.append(zxid, record(zxid)).unwrap()
                };
                let zxid = handle.zxid();
                match handle.wait() {
                    Ok(()) => println!("OK {zxid}"),
                    Err(error) => {
                        report_error(&log, zxid, &error);
                        *failed.lock().unwrap() += 1;
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    println!("CONCURRENT_ERRORS {}", failed.lock().unwrap());
    // 3. Space returns (here: by truncating the log); the writer picks up again.
    let keep = log.last_logged_zxid() - 10;
    log.truncate_after(keep).unwrap();
    println!("TRUNCATED {keep}");
    for zxid in keep + 1..=keep + 5 {
        log.append(zxid, record(zxid)).unwrap().wait().unwrap();
        println!("OK {zxid}");
    }
}
