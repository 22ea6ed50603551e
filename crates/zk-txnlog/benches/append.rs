//! Append throughput with group commit against the disk's raw fdatasync rate, and recovery time.
//!
//! `cargo bench -p zk-txnlog` (about a minute). Set `ZK_TXNLOG_BENCH_DIR` to measure another disk;
//! `ZK_TXNLOG_BENCH_SECS` changes the time per measurement (default 3).

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zk_txnlog::{LogOptions, TxnLog};

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> BenchResult<()> {
    // Under `cargo test --benches` the harness passes no `--bench`: do a tiny smoke run only.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let secs: f64 = std::env::var("ZK_TXNLOG_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if smoke { 0.2 } else { 3.0 });
    let period = Duration::from_secs_f64(secs);
    let base = match std::env::var("ZK_TXNLOG_BENCH_DIR") {
        Ok(dir) => tempfile::tempdir_in(dir)?,
        Err(_) => tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))?,
    };

    for size in [100usize, 1024] {
        // Measured right before the log runs it is compared with, since a shared disk drifts.
        let raw = raw_fdatasync_rate(&base.path().join(format!("raw-{size}")), size, period)?;
        println!("raw write({size} B) + fdatasync:   {raw:>10.0} /s");
        let mut single = 0.0;
        for writers in [1usize, 16, 256] {
            let dir = base.path().join(format!("log-{size}-{writers}"));
            let rate = append_rate(&dir, writers, size, period)?;
            if writers == 1 {
                single = rate;
            }
            println!(
                "append {size:>5} B, {writers:>3} writers: {rate:>10.0} records/s  ({:>5.2}x raw fsync, {:>6.1}x one writer)",
                rate / raw,
                rate / single
            );
        }
    }
    let records = if smoke { 10_000 } else { 1_000_000 };
    let (open, replay) = recovery_time(&base.path().join("recovery"), records)?;
    println!(
        "recovery of {records} records of 100 B: open {:>6.0} ms, open + read all {:>6.0} ms",
        open.as_secs_f64() * 1e3,
        replay.as_secs_f64() * 1e3
    );
    Ok(())
}

/// Sequential writes of `size` bytes, each followed by fdatasync, into a file preallocated the same way as
/// the log's segments.
fn raw_fdatasync_rate(path: &Path, size: usize, period: Duration) -> BenchResult<f64> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(path)?;
    file.set_len(64 << 20)?;
    let record = vec![7u8; size];
    let start = Instant::now();
    let mut count = 0u64;
    while start.elapsed() < period {
        file.write_all_at(&record, count * size as u64)?;
        file.sync_data()?;
        count += 1;
    }
    Ok(count as f64 / start.elapsed().as_secs_f64())
}

/// `writers` threads, each appending and waiting for durability in a loop.
fn append_rate(dir: &Path, writers: usize, size: usize, period: Duration) -> BenchResult<f64> {
    let (log, _) = TxnLog::open(dir, LogOptions::default())?;
    let log = Arc::new(log);
    let next = Arc::new(Mutex::new(0i64));
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let payload = vec![0x5Au8; size];
    let threads: Vec<_> = (0..writers)
        .map(|_| {
            let (log, next, stop, done, payload) = (
                Arc::clone(&log),
                Arc::clone(&next),
                Arc::clone(&stop),
                Arc::clone(&done),
                payload.clone(),
            );
            std::thread::spawn(move || -> Result<(), zk_txnlog::LogError> {
                while !stop.load(Ordering::Relaxed) {
                    let handle = {
                        let mut next = next.lock().unwrap_or_else(|p| p.into_inner());
                        *next += 1;
                        log.append(*next, payload.clone())?
                    };
                    handle.wait()?;
                    done.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect();
    // Warm up (thread start, first segment), then measure.
    std::thread::sleep(period / 5);
    let start_count = done.load(Ordering::Relaxed);
    let start = Instant::now();
    std::thread::sleep(period);
    let counted = done.load(Ordering::Relaxed) - start_count;
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread.join().map_err(|_| "writer thread panicked")??;
    }
    Ok(counted as f64 / elapsed.as_secs_f64())
}

/// Writes `records` records of 100 bytes (sync off: only the data set is built here), then times a
/// fresh `open` (full scan and validation) and a full read-back.
fn recovery_time(dir: &Path, records: i64) -> BenchResult<(Duration, Duration)> {
    let options = LogOptions {
        sync: false,
        ..LogOptions::default()
    };
    {
        let (log, _) = TxnLog::open(dir, options.clone())?;
        let payload = bytes::Bytes::from(vec![0x33u8; 100]);
        for zxid in 1..=records {
            let appended = log.append(zxid, payload.clone())?;
            // Bound the queue: wait for every 10,000th record.
            if zxid % 10_000 == 0 || zxid == records {
                appended.wait()?;
            }
        }
    }
    let start = Instant::now();
    let (log, report) = TxnLog::open(dir, LogOptions::default())?;
    let open = start.elapsed();
    assert_eq!(report.records, records as u64);
    let mut count = 0i64;
    for record in log.iter_from(0)? {
        record?;
        count += 1;
    }
    assert_eq!(count, records);
    Ok((open, start.elapsed()))
}
