//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use zk_txnlog::{LogOptions, TxnLog};

/// Deterministic payload for a zxid, 1..=max_len bytes, never ending in a zero byte.
pub fn payload(zxid: i64, max_len: usize) -> Vec<u8> {
    let len = 1 + (zxid as usize * 7919) % max_len;
    (0..len)
        .map(|i| ((zxid as usize * 31 + i * 17) % 251) as u8 + 1)
        .collect()
}

/// Every record in the log, in order (panics on a read error).
pub fn read_all(log: &TxnLog) -> Vec<(i64, Vec<u8>)> {
    log.iter_from(0)
        .unwrap()
        .map(|r| {
            let (zxid, bytes) = r.unwrap();
            (zxid, bytes.to_vec())
        })
        .collect()
}

/// The log segment files of a directory, oldest first.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("log."))
        })
        .collect();
    files.sort();
    files
}

/// Small segments and preallocation so that tests roll and preallocate often.
pub fn small_options() -> LogOptions {
    LogOptions {
        segment_size: 16 * 1024,
        prealloc_size: 8 * 1024,
        ..LogOptions::default()
    }
}

/// Copies every file of `from` into the empty directory `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// Small deterministic pseudo-random numbers (xorshift), so a failing run can be replayed by seed.
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A seed from the clock, printed so that a failure can be reproduced with `ZK_TXNLOG_SEED`.
pub fn seed() -> u64 {
    let seed = std::env::var("ZK_TXNLOG_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("seed {seed} (set ZK_TXNLOG_SEED to replay)");
    seed
}

/// Re-runs this test executable as a child process running only `test_name`, with `env` set.
pub fn child_command(test_name: &str, env: (&str, &Path)) -> std::process::Command {
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(env.0, env.1);
    command
}
