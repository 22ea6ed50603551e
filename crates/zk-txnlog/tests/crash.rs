#![allow(clippy::unwrap_used)]
//! Crash consistency with real processes: a child appends with several concurrent writers and prints
//! every zxid it was told is durable; the parent SIGKILLs it at random moments, recovers the log and
//! checks that every reported zxid is there, in order, with the right payload.
//!
//! The child is this same test executable, re-run with `ZK_TXNLOG_CRASH_DIR` set.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use common::{Rng, child_command, payload, read_all, seed, small_options};
use zk_txnlog::TxnLog;

const CHILD_DIR_ENV: &str = "ZK_TXNLOG_CRASH_DIR";
const KILLS: usize = 200;
const LANES: usize = 2;
const WRITERS: usize = 4;
const MAX_PAYLOAD: usize = 300;

#[test]
fn every_zxid_reported_durable_survives_sigkill() {
    if let Ok(dir) = std::env::var(CHILD_DIR_ENV) {
        run_child(Path::new(&dir));
    }
    // Two independent logs killed in parallel: the time goes into process start and fsync waits.
    let seed = seed();
    let lanes: Vec<_> = (0..LANES)
        .map(|lane| std::thread::spawn(move || kill_repeatedly(seed + lane as u64, KILLS / LANES)))
        .collect();
    let reported_total: usize = lanes.into_iter().map(|l| l.join().unwrap()).sum();
    assert!(
        reported_total > KILLS,
        "the child made too little progress to test anything"
    );
}

/// Starts and SIGKILLs a child `kills` times on one log, checking the log after each kill; returns
/// how many durable zxids the children reported.
fn kill_repeatedly(seed: u64, kills: usize) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(seed);
    let mut reported_total = 0usize;
    let mut max_reported = 0i64;
    let mut torn_tails = 0;
    for kill in 0..kills {
        let mut child = child_command(
            "every_zxid_reported_durable_survives_sigkill",
            (CHILD_DIR_ENV, dir.path()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (lines_tx, lines_rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                // A line cut by the kill has no newline: it was never fully reported.
                if line.ends_with('\n') {
                    let _ = lines_tx.send(line.trim_end().to_owned());
                }
                line.clear();
            }
        });
        // Most kills land while appends run; every fifth one may hit startup and recovery.
        if kill % 5 != 0 {
            let opened = lines_rx
                .iter()
                // libtest prints "test <name> ... " without a newline before the child's first line.
                .take_while(|l| !l.ends_with("OPENED"))
                .count();
            assert!(opened < 1000, "child never opened the log");
        }
        std::thread::sleep(Duration::from_millis(rng.below(31)));
        child.kill().unwrap();
        child.wait().unwrap();
        reader.join().unwrap();
        let reported: Vec<i64> = lines_rx
            .try_iter()
            .filter_map(|l| l.strip_prefix("DURABLE ").and_then(|z| z.parse().ok()))
            .collect();

        let (log, report) = TxnLog::open(dir.path(), small_options())
            .unwrap_or_else(|e| panic!("recovery after kill {kill} failed: {e}"));
        torn_tails += usize::from(report.torn_tail.is_some());
        let records = read_all(&log);
        for (index, (zxid, bytes)) in records.iter().enumerate() {
            assert_eq!(*zxid, index as i64 + 1, "kill {kill}: gap or reorder");
            assert_eq!(
                bytes,
                &payload(*zxid, MAX_PAYLOAD),
                "kill {kill}: payload of {zxid}"
            );
        }
        let last = records.last().map_or(0, |(z, _)| *z);
        assert_eq!(report.last_zxid.max(0), last);
        for zxid in &reported {
            assert!(
                *zxid <= last,
                "kill {kill}: {zxid} was reported durable but is lost (last {last})"
            );
        }
        max_reported = max_reported.max(reported.iter().copied().max().unwrap_or(0));
        assert!(
            max_reported <= last,
            "kill {kill}: an earlier durable zxid was lost"
        );
        reported_total += reported.len();
    }
    eprintln!(
        "{kills} kills, {reported_total} durable reports, {torn_tails} torn tails cut, last zxid {max_reported}"
    );
    reported_total
}

/// Appends forever from several threads, printing each zxid once it is durable.
fn run_child(dir: &Path) -> ! {
    let (log, _) = TxnLog::open(dir, small_options()).unwrap();
    let log = Arc::new(log);
    let next = Arc::new(Mutex::new(log.last_logged_zxid().max(0) + 1));
    println!("OPENED");
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let (log, next) = (Arc::clone(&log), Arc::clone(&next));
            std::thread::spawn(move || {
                loop {
                    let handle = {
                        let mut next = next.lock().unwrap();
                        let zxid = *next;
                        *next += 1;
                        log.append(zxid, payload(zxid, MAX_PAYLOAD)).unwrap()
                    };
                    let zxid = handle.zxid();
                    handle.wait().unwrap();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "DURABLE {zxid}").unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        let _ = writer.join();
    }
    std::process::exit(1)
}
