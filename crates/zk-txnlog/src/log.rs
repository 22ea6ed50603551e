//! The public log handle: append with group commit, durable watermark, reading, truncation.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{oneshot, watch};

use crate::error::{LogError, Result};
use crate::format::{HeaderError, MAX_PAYLOAD_LEN, Slot};
use crate::fsutil;
use crate::naming::{self, LOG_PREFIX};
use crate::recent::RecentRecords;
use crate::recovery::{self, RecoveryReport};
use crate::segment_reader::SegmentReader;
use crate::sync_stats::SyncStats;
use crate::writer::{Command, PendingAppend, Queue, Shared, Writer};

/// How a log is laid out and synced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// Start a new segment file once the current one holds this many bytes (checked between group
    /// commits, so a segment may exceed it by one batch). Default 64 MiB.
    pub segment_size: u64,
    /// Grow segment files in steps of this many bytes ahead of the data, so that most syncs do not
    /// change the file size (0 disables). Default 64 MiB.
    pub prealloc_size: u64,
    /// Identifies the database; stored in every segment header and checked on open.
    pub db_id: u64,
    /// `fdatasync` every group commit. Default true; false only for tests that say so.
    pub sync: bool,
    /// On damage before the tail, cut the log at the damage (deleting every later segment) instead of
    /// refusing to open. Every record from that point on is lost: use once, on a replica that will be
    /// resynced, after reading the error.
    pub truncate_corrupt_tail_at_own_risk: bool,
    /// Keep the newest this many records in memory (at most 32 MiB of them), so that reading
    /// the recent history back does not touch the segments. A replica's new leader reads it
    /// right after a failover; a standalone server never does and sets 0. Default 16,384.
    pub recent_records: usize,
    /// A sync slower than this is logged as a warning and counted (ZooKeeper's
    /// `fsync.warningthresholdms`). Default 1 s.
    pub slow_sync_warning: Duration,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            segment_size: 64 << 20,
            prealloc_size: 64 << 20,
            db_id: 0,
            sync: true,
            truncate_corrupt_tail_at_own_risk: false,
            recent_records: 16_384,
            slow_sync_warning: Duration::from_secs(1),
        }
    }
}

/// An append-only log of `(zxid, payload)` records in one directory, with group commit.
///
/// `append` queues a record and returns at once; the record is durable when its [`Appended`] handle
/// resolves, or when [`TxnLog::durable_zxid`] reaches its zxid. Records that queue up while a sync is
/// running share the next sync. Dropping the log writes what is queued and stops the writer thread.
#[derive(Debug)]
pub struct TxnLog {
    dir: PathBuf,
    shared: Arc<Shared>,
    /// The newest records appended, read back without touching the segments.
    recent: Mutex<RecentRecords>,
    writer: Option<JoinHandle<()>>,
}

impl TxnLog {
    /// Opens (creating if needed) the log in `dir`, recovers it and starts the writer thread.
    ///
    /// A torn final write in the last segment is cut off (with a warning, reported in the
    /// [`RecoveryReport`]); damage anywhere else is refused with [`LogError::Corrupt`], which names the
    /// file and offset and how to proceed.
    pub fn open(dir: impl AsRef<Path>, options: LogOptions) -> Result<(TxnLog, RecoveryReport)> {
        let dir = dir.as_ref().to_owned();
        fsutil::ensure_dir(&dir)?;
        let recent = Mutex::new(RecentRecords::new(options.recent_records));
        let recovered = recovery::recover(&dir, &options)?;
        let last = recovered.report.last_zxid;
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                commands: Vec::new(),
                last_zxid: last,
                closing: false,
                writer_waiting: false,
            }),
            wake: Condvar::new(),
            durable: watch::Sender::new(last),
            sync_stats: SyncStats::default(),
        });
        let writer = Writer::new(
            dir.clone(),
            options,
            Arc::clone(&shared),
            recovered.current,
            last,
        );
        let handle = std::thread::Builder::new()
            .name("zk-txnlog-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| LogError::io("starting the log writer thread", e))?;
        Ok((
            TxnLog {
                dir,
                shared,
                recent,
                writer: Some(handle),
            },
            recovered.report,
        ))
    }

    /// The directory holding the segments.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Queues a record. `zxid` must be above every zxid appended before (and not negative); otherwise
    /// nothing is written and an error is returned. The returned handle resolves once the record is
    /// durable, or with the error that prevented it.
    pub fn append(&self, zxid: i64, payload: impl Into<Bytes>) -> Result<Appended> {
        let payload = payload.into();
        if zxid < 0 {
            return Err(LogError::NegativeZxid(zxid));
        }
        if payload.len() > MAX_PAYLOAD_LEN {
            return Err(LogError::RecordTooLarge {
                len: payload.len(),
                max: MAX_PAYLOAD_LEN,
            });
        }
        let (done, receiver) = oneshot::channel();
        let mut queue = self.shared.lock();
        if queue.closing {
            return Err(LogError::Closed);
        }
        if zxid <= queue.last_zxid {
            return Err(LogError::ZxidNotIncreasing {
                zxid,
                last: queue.last_zxid,
            });
        }
        queue.last_zxid = zxid;
        // Under the queue's lock, so that the cache is in zxid order too.
        self.recent().push(zxid, payload.clone());
        let sleeping = queue.writer_waiting;
        queue.commands.push(Command::Append(PendingAppend {
            zxid,
            payload,
            done,
        }));
        drop(queue);
        if sleeping {
            self.shared.wake.notify_one();
        }
        Ok(Appended { zxid, receiver })
    }

    /// A watch of the highest zxid known durable (-1 for an empty log): pipelines can wait on this
    /// watermark instead of on every [`Appended`]. It only goes down through [`TxnLog::truncate_after`].
    pub fn durable_zxid(&self) -> watch::Receiver<i64> {
        self.shared.durable.subscribe()
    }

    /// What the group commits have cost so far: sync times, batch sizes, slow syncs.
    pub fn sync_stats(&self) -> &SyncStats {
        &self.shared.sync_stats
    }

    /// Highest durable zxid in the log, -1 when empty.
    pub fn last_logged_zxid(&self) -> i64 {
        *self.shared.durable.borrow()
    }

    /// Keeps exactly the records with zxid <= `zxid` (ZAB's TRUNC): cuts the segment holding the cut
    /// point, deletes later segments, and syncs file and directory before returning. Records appended
    /// before this call are written first; appends after it continue from the new end. Blocks the
    /// calling thread until done.
    pub fn truncate_after(&self, zxid: i64) -> Result<()> {
        let (done, result) = std::sync::mpsc::channel();
        {
            let mut queue = self.shared.lock();
            if queue.closing {
                return Err(LogError::Closed);
            }
            queue.last_zxid = queue.last_zxid.min(zxid);
            queue.commands.push(Command::Truncate { zxid, done });
            self.recent().truncate_after(zxid);
        }
        self.shared.wake.notify_one();
        result.recv().map_err(|_| LogError::Closed)?
    }

    /// Every durable record with zxid >= `zxid`, in order: from memory when they are among the
    /// newest appended, else read from the segment files. Records appended after this call are
    /// not included. Snapshot + replay is `snapshots.latest_valid()` then
    /// `log.iter_from(snapshot.zxid() + 1)`.
    pub fn iter_from(&self, zxid: i64) -> Result<LogIter> {
        // The limit is read before listing, so every record up to it is in a listed segment.
        let limit = self.last_logged_zxid();
        if let Some(records) = self.recent().range(zxid, limit) {
            return Ok(LogIter {
                segments: Default::default(),
                from: zxid,
                limit,
                current: None,
                cached: records.into_iter(),
                last_seen: -1,
                finished: false,
            });
        }
        let segments = naming::list(&self.dir, LOG_PREFIX)
            .map_err(|e| LogError::io(format!("listing {}", self.dir.display()), e))?;
        let start = segments
            .iter()
            .rposition(|(base, _)| *base <= zxid)
            .unwrap_or(0);
        Ok(LogIter {
            segments: segments.into_iter().skip(start).map(|(_, p)| p).collect(),
            from: zxid,
            limit,
            current: None,
            cached: Vec::new().into_iter(),
            last_seen: -1,
            finished: false,
        })
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, RecentRecords> {
        self.recent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for TxnLog {
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.wake.notify_one();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// Resolves when one appended record is durable. `.await` it in async code or call
/// [`Appended::wait`] from a plain thread; dropping it does not cancel the append.
#[derive(Debug)]
pub struct Appended {
    zxid: i64,
    receiver: oneshot::Receiver<Result<()>>,
}

impl Appended {
    /// The zxid of the record.
    pub fn zxid(&self) -> i64 {
        self.zxid
    }

    /// Blocks the thread until the record is durable. Must not be called from inside an async
    /// runtime (tokio panics there): `.await` the handle instead.
    pub fn wait(self) -> Result<()> {
        self.receiver
            .blocking_recv()
            .unwrap_or(Err(LogError::Closed))
    }
}

impl Future for Appended {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.receiver)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(LogError::Closed)))
    }
}

/// Iterator over records read back from the segment files (see [`TxnLog::iter_from`]).
#[derive(Debug)]
pub struct LogIter {
    segments: std::collections::VecDeque<PathBuf>,
    from: i64,
    limit: i64,
    current: Option<SegmentReader>,
    /// Records served from memory (see [`TxnLog::iter_from`]); the segments are then empty.
    cached: std::vec::IntoIter<(i64, Bytes)>,
    last_seen: i64,
    finished: bool,
}

impl LogIter {
    fn fail(&mut self, error: LogError) -> Option<Result<(i64, Bytes)>> {
        self.finished = true;
        Some(Err(error))
    }

    /// Opens the next segment; `None` when there is none.
    fn load_next(&mut self) -> Option<Result<()>> {
        let path = self.segments.pop_front()?;
        let io_error = |e| LogError::io(format!("reading {}", path.display()), e);
        let mut reader = match SegmentReader::open(&path) {
            Ok(reader) => reader,
            Err(e) => return Some(Err(io_error(e))),
        };
        match reader.header() {
            Ok(Ok(_)) => {}
            // The writer is creating this segment; its records are beyond the limit.
            Ok(Err(HeaderError::Missing)) if self.segments.is_empty() => return None,
            Ok(Err(HeaderError::Missing)) => {
                return Some(Err(corrupt(&path, 0, "segment header missing".into())));
            }
            Ok(Err(HeaderError::Invalid(reason))) => return Some(Err(corrupt(&path, 0, reason))),
            Err(e) => return Some(Err(io_error(e))),
        }
        self.current = Some(reader);
        Some(Ok(()))
    }
}

fn corrupt(file: &Path, offset: usize, reason: String) -> LogError {
    LogError::Corrupt {
        file: file.to_owned(),
        offset: offset as u64,
        reason,
    }
}

impl Iterator for LogIter {
    type Item = Result<(i64, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(record) = self.cached.next() {
            return Some(Ok(record));
        }
        while !self.finished && self.last_seen < self.limit {
            let Some(reader) = self.current.as_mut() else {
                match self.load_next() {
                    Some(Ok(())) => continue,
                    Some(Err(error)) => return self.fail(error),
                    None => break,
                }
            };
            let slot = match reader.next_slot() {
                Ok(slot) => slot,
                Err(e) => {
                    let error = LogError::io(format!("reading {}", reader.path().display()), e);
                    return self.fail(error);
                }
            };
            match slot {
                Slot::Record(record) if record.zxid > self.limit => break,
                Slot::Record(record) => {
                    self.last_seen = record.zxid;
                    if record.zxid >= self.from {
                        return Some(Ok((record.zxid, Bytes::copy_from_slice(record.payload))));
                    }
                }
                Slot::End => self.current = None,
                Slot::Damaged(damage) => {
                    let error = corrupt(reader.path(), damage.offset, damage.reason);
                    return self.fail(error);
                }
            }
        }
        self.finished = true;
        None
    }
}
