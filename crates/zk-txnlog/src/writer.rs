//! The log writer thread: group commit, preallocation, segment rolling, truncation.
//!
//! One thread owns the open segment. It takes *everything* queued, writes it with one `write`, calls one
//! `fdatasync`, then resolves all those waiters: records that arrive while a sync runs share the next
//! one, and a lone writer never waits for a timer. If a batch cannot be made durable, every waiter of
//! that batch (and every append queued behind it, which would otherwise leave a hole) gets the error,
//! the batch is cut back off the file, and the next batch tries again.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, mpsc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{oneshot, watch};

use crate::error::{LogError, Result};
use crate::format::{self, SEGMENT_HEADER_LEN, SegmentHeader, Slot};
use crate::fsutil;
use crate::log::LogOptions;
use crate::naming::{self, LOG_PREFIX};
use crate::recovery::OpenSegment;

/// Zeros are written ahead of the data once it comes this close to the end of the last chunk.
const ZERO_AHEAD_MARGIN: u64 = 256 * 1024;

/// Bytes of zeros written at a time: each chunk costs one journal commit (and a 1 MiB flush
/// inside one batch's sync) instead of one per batch.
const ZERO_CHUNK: u64 = 1024 * 1024;

static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// Preallocate again when the data gets this close to the end of the file.
const PREALLOC_MARGIN: u64 = 4096;

/// How long the writer watches for a lone writer's next record before it sleeps.
const LONE_WRITER_SPIN: Duration = Duration::from_micros(50);

/// Lone batches the writer sleeps after without spinning, once a spin waited in vain.
const SPIN_BACKOFF: u32 = 16;

/// State shared between the [`crate::TxnLog`] handle and the writer thread.
#[derive(Debug)]
pub(crate) struct Shared {
    pub queue: Mutex<Queue>,
    pub wake: Condvar,
    /// Highest zxid known durable; goes down only through `truncate_after`.
    pub durable: watch::Sender<i64>,
    pub sync_stats: crate::sync_stats::SyncStats,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock cannot leave the queue half-updated (every update is a single
        // push or swap), so a poisoned lock is still usable.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Debug)]
pub(crate) struct Queue {
    pub commands: Vec<Command>,
    /// Highest zxid accepted by `append` (strictly increasing check).
    pub last_zxid: i64,
    pub closing: bool,
    /// The writer sleeps on the condvar: only then does an append need to wake it (a futex call),
    /// not while it writes or syncs the batch before.
    pub writer_waiting: bool,
}

#[derive(Debug)]
pub(crate) enum Command {
    Append(PendingAppend),
    Truncate {
        zxid: i64,
        done: mpsc::Sender<Result<()>>,
    },
}

#[derive(Debug)]
pub(crate) struct PendingAppend {
    pub zxid: i64,
    pub payload: Bytes,
    pub done: oneshot::Sender<Result<()>>,
}

/// When the writer spins for a lone writer's next record (see `Writer::await_next_record`):
/// after a batch of one record, unless a recent spin waited in vain.
#[derive(Debug, Default)]
struct SpinPolicy {
    lone: bool,
    /// Lone batches still to go without spinning.
    no_spin: u32,
}

impl SpinPolicy {
    fn committed(&mut self, records: usize) {
        self.lone = records == 1;
    }

    fn should_spin(&mut self) -> bool {
        if !self.lone {
            return false;
        }
        if self.no_spin > 0 {
            self.no_spin -= 1;
            return false;
        }
        true
    }

    fn spun(&mut self, caught_a_record: bool) {
        if !caught_a_record {
            self.no_spin = SPIN_BACKOFF;
        }
    }
}

pub(crate) struct Writer {
    dir: PathBuf,
    options: LogOptions,
    shared: Arc<Shared>,
    current: Option<OpenSegment>,
    /// Offset a failed batch must be cut back to before anything else is written.
    cut_back: Option<u64>,
    durable: i64,
    buf: Vec<u8>,
    /// The queue's vector between batches: swapped in and out so that neither side grows a new one
    /// for every batch.
    spare: Vec<Command>,
    prealloc_failing: bool,
    zero_fill_failing: bool,
}

impl Writer {
    pub fn new(
        dir: PathBuf,
        options: LogOptions,
        shared: Arc<Shared>,
        current: Option<OpenSegment>,
        durable: i64,
    ) -> Self {
        Writer {
            dir,
            options,
            shared,
            current,
            cut_back: None,
            durable,
            buf: Vec::new(),
            spare: Vec::new(),
            prealloc_failing: false,
            zero_fill_failing: false,
        }
    }

    /// Runs until the log is dropped and the queue is empty.
    pub fn run(mut self) {
        let mut spin = SpinPolicy::default();
        loop {
            if spin.should_spin() {
                spin.spun(self.await_next_record());
            }
            let mut commands = {
                let mut queue = self.shared.lock();
                while queue.commands.is_empty() && !queue.closing {
                    queue.writer_waiting = true;
                    queue = self
                        .shared
                        .wake
                        .wait(queue)
                        .unwrap_or_else(|p| p.into_inner());
                    queue.writer_waiting = false;
                }
                if queue.commands.is_empty() {
                    return;
                }
                std::mem::replace(&mut queue.commands, std::mem::take(&mut self.spare))
            };
            let mut batch = Vec::with_capacity(commands.len());
            for command in commands.drain(..) {
                match command {
                    Command::Append(pending) => batch.push(pending),
                    Command::Truncate { zxid, done } => {
                        self.commit(std::mem::take(&mut batch));
                        let _ = done.send(self.truncate_after(zxid));
                    }
                }
            }
            spin.committed(batch.len());
            self.commit(batch);
            self.spare = commands;
        }
    }

    /// After a batch of one record (a lone writer: the machine has time to spare), watches the
    /// queue for up to [`LONE_WRITER_SPIN`] before sleeping on the condvar: that writer's next
    /// record usually comes within a round trip, and waking a sleeping thread costs more than
    /// the round trip itself on a virtual machine. Under load batches hold several records and
    /// the writer never spins, leaving the cores to the threads that fill them; when records
    /// come rarely (mostly reads), a spin that waited in vain stops the next ones. True when a
    /// record (or the end) came.
    fn await_next_record(&self) -> bool {
        let started = Instant::now();
        while started.elapsed() < LONE_WRITER_SPIN {
            if let Ok(queue) = self.shared.queue.try_lock()
                && (!queue.commands.is_empty() || queue.closing)
            {
                return true;
            }
            std::hint::spin_loop();
        }
        false
    }

    /// Writes and syncs one group commit, then resolves its waiters.
    fn commit(&mut self, batch: Vec<PendingAppend>) {
        let Some(last) = batch.last().map(|p| p.zxid) else {
            return;
        };
        match self.write_batch(&batch) {
            Ok(()) => {
                self.durable = last;
                self.shared.durable.send_replace(last);
                for pending in batch {
                    let _ = pending.done.send(Ok(()));
                }
                // After the waiters are answered: this batch's replies do not wait for it.
                self.zero_ahead();
            }
            Err(error) => {
                tracing::error!(%error, records = batch.len(), "group commit failed; reporting it to its waiters");
                let queued_behind = self.reject_queued_appends();
                for pending in batch.into_iter().chain(queued_behind) {
                    let _ = pending.done.send(Err(error.clone()));
                }
            }
        }
    }

    /// Writes zeros into the preallocated space ahead of the data, a chunk at a time. A file
    /// extended by `set_len` has no blocks behind its length: every batch written there makes
    /// the filesystem allocate some, and its `fdatasync` must then commit that allocation to the
    /// filesystem's journal as well as flush the data, an extra write and flush on the disk.
    /// Into blocks already written the sync flushes only the data: on ext4 this took a 4 KiB
    /// batch's sync from 237-255 µs to 150-190 µs on average. The next batch's sync makes the
    /// zeros (and their allocation) durable, once per chunk. Failure is not an error: the data
    /// is written either way.
    fn zero_ahead(&mut self) {
        let Some(segment) = self.current.as_mut() else {
            return;
        };
        if self.options.prealloc_size == 0 || segment.written >= segment.end + ZERO_AHEAD_MARGIN {
            return;
        }
        let from = segment.written.max(segment.end);
        let to = (from + ZERO_CHUNK).min(segment.allocated);
        let mut at = from;
        while at < to {
            let len = usize::try_from(to - at).map_or(ZEROS.len(), |left| left.min(ZEROS.len()));
            if let Err(error) = segment.file.write_all_at(&ZEROS[..len], at) {
                if !self.zero_fill_failing {
                    tracing::warn!(file = %segment.path.display(), %error, "could not write zeros ahead of the log; writing without them");
                }
                self.zero_fill_failing = true;
                break;
            }
            at += len as u64;
        }
        if at == to {
            self.zero_fill_failing = false;
        }
        segment.written = at;
    }

    /// Takes the appends queued behind a failed batch out of the queue and lets `append` continue from
    /// the last durable zxid.
    fn reject_queued_appends(&mut self) -> Vec<PendingAppend> {
        let mut queue = self.shared.lock();
        let mut rejected = Vec::new();
        let mut last_zxid = self.durable;
        let mut kept = Vec::new();
        for command in std::mem::take(&mut queue.commands) {
            match command {
                Command::Append(pending) => rejected.push(pending),
                truncate @ Command::Truncate { zxid, .. } => {
                    last_zxid = last_zxid.min(zxid);
                    kept.push(truncate);
                }
            }
        }
        queue.commands = kept;
        queue.last_zxid = last_zxid;
        rejected
    }

    fn write_batch(&mut self, batch: &[PendingAppend]) -> Result<()> {
        self.repair()?;
        let first = batch.first().map_or(0, |p| p.zxid);
        let must_roll = self
            .current
            .as_ref()
            .is_none_or(|s| s.end >= self.options.segment_size);
        if must_roll {
            self.roll(first)?;
        }
        let Some(segment) = self.current.as_mut() else {
            return Err(LogError::Closed);
        };
        let start = segment.end;
        self.buf.clear();
        for pending in batch {
            format::encode_record(&mut self.buf, pending.zxid, start, &pending.payload);
        }
        let end = start + self.buf.len() as u64;
        preallocate(
            segment,
            end,
            self.options.prealloc_size,
            &mut self.prealloc_failing,
        );
        let written = segment
            .file
            .write_all_at(&self.buf, start)
            .map_err(|e| LogError::io(format!("writing {}", segment.path.display()), e))
            .and_then(|()| {
                if !self.options.sync {
                    return Ok(());
                }
                let started = Instant::now();
                segment
                    .file
                    .sync_data()
                    .map_err(|e| LogError::io(format!("syncing {}", segment.path.display()), e))?;
                let elapsed = started.elapsed();
                let threshold = self.options.slow_sync_warning;
                if self
                    .shared
                    .sync_stats
                    .record(elapsed, batch.len(), threshold)
                {
                    tracing::warn!(
                        file = %segment.path.display(),
                        elapsed_ms = elapsed.as_millis() as u64,
                        threshold_ms = threshold.as_millis() as u64,
                        bytes = end,
                        "fsync of the transaction log was slow; writes wait for it"
                    );
                }
                Ok(())
            });
        match written {
            Ok(()) => {
                segment.end = end;
                segment.allocated = segment.allocated.max(end);
                segment.written = segment.written.max(end);
                Ok(())
            }
            Err(error) => {
                self.cut_back = Some(start);
                if let Err(repair) = self.repair() {
                    tracing::error!(%repair, "could not cut a failed batch off the log yet; will retry");
                }
                Err(error)
            }
        }
    }

    /// Cuts a failed batch off the segment (shrinking a file works even on a full disk).
    fn repair(&mut self) -> Result<()> {
        let (Some(offset), Some(segment)) = (self.cut_back, self.current.as_mut()) else {
            return Ok(());
        };
        segment
            .file
            .set_len(offset)
            .and_then(|()| segment.file.sync_all())
            .map_err(|e| LogError::io(format!("cutting back {}", segment.path.display()), e))?;
        segment.end = offset;
        segment.allocated = offset;
        segment.written = offset;
        self.cut_back = None;
        Ok(())
    }

    /// Starts `log.<first>`: the header is synced and the directory entry made durable before any
    /// record in it can be acknowledged.
    fn roll(&mut self, first: i64) -> Result<()> {
        if let Some(old) = self.current.as_mut() {
            // The old segment's data is already durable; dropping its unused preallocation needs no sync.
            match old.file.set_len(old.end) {
                Ok(()) => old.allocated = old.end,
                Err(error) => {
                    tracing::warn!(file = %old.path.display(), %error, "could not trim preallocated space");
                }
            }
        }
        let path = self.dir.join(naming::file_name(LOG_PREFIX, first));
        let created = create_segment(&path, first, self.options.db_id).and_then(|file| {
            fsutil::sync_dir(&self.dir)?;
            Ok(file)
        });
        match created {
            Ok(file) => {
                self.current = Some(OpenSegment {
                    path,
                    file,
                    end: SEGMENT_HEADER_LEN as u64,
                    allocated: SEGMENT_HEADER_LEN as u64,
                    written: SEGMENT_HEADER_LEN as u64,
                });
                Ok(())
            }
            Err(error) => {
                // Nothing in it was acknowledged; a half-made file would only confuse recovery.
                let _ = std::fs::remove_file(&path);
                Err(error)
            }
        }
    }

    /// Keeps exactly the records with zxid <= `zxid`; durable (file and directory synced) on return.
    fn truncate_after(&mut self, zxid: i64) -> Result<()> {
        self.repair()?;
        self.current = None;
        let segments = naming::list(&self.dir, LOG_PREFIX)
            .map_err(|e| LogError::io(format!("listing {}", self.dir.display()), e))?;
        let mut new_last = -1;
        let mut survivor = None;
        // Newest first, so that a crash part-way leaves a shorter but consistent log.
        for (base, path) in segments.iter().rev() {
            if *base > zxid {
                fsutil::remove_file(path)?;
                continue;
            }
            let (cut, last) = last_record_at_or_below(path, zxid)?;
            match last {
                Some(last) => {
                    new_last = last;
                    survivor = Some((path.clone(), cut));
                    break;
                }
                None => fsutil::remove_file(path)?,
            }
        }
        fsutil::sync_dir(&self.dir)?;
        if let Some((path, cut)) = survivor {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|e| LogError::io(format!("opening {}", path.display()), e))?;
            file.set_len(cut)
                .and_then(|()| file.sync_all())
                .map_err(|e| LogError::io(format!("truncating {}", path.display()), e))?;
            self.current = Some(OpenSegment {
                path,
                file,
                end: cut,
                allocated: cut,
                written: cut,
            });
        }
        self.durable = new_last;
        self.shared.durable.send_replace(new_last);
        Ok(())
    }
}

/// Extends the file ahead of the data in `prealloc_size` steps, so that most syncs do not have to
/// change the file size. Failure (e.g. a file size limit) is not an error: the write itself decides.
fn preallocate(segment: &mut OpenSegment, needed: u64, step: u64, failing: &mut bool) {
    if step == 0 || needed + PREALLOC_MARGIN <= segment.allocated {
        return;
    }
    let target = (needed + PREALLOC_MARGIN).div_ceil(step) * step;
    match segment.file.set_len(target) {
        Ok(()) => {
            segment.allocated = target;
            *failing = false;
        }
        Err(error) => {
            if !*failing {
                tracing::warn!(file = %segment.path.display(), %error, "preallocation failed; writing without it");
            }
            *failing = true;
        }
    }
}

fn create_segment(path: &std::path::Path, base_zxid: i64, db_id: u64) -> Result<std::fs::File> {
    let header = format::encode_segment_header(SegmentHeader { db_id, base_zxid });
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| LogError::io(format!("creating {}", path.display()), e))?;
    file.write_all_at(&header, 0)
        .and_then(|()| file.sync_all())
        .map_err(|e| LogError::io(format!("writing header of {}", path.display()), e))?;
    Ok(file)
}

/// Offset just past the last record with zxid <= `zxid` in a segment, and that record's zxid.
fn last_record_at_or_below(path: &std::path::Path, zxid: i64) -> Result<(u64, Option<i64>)> {
    let data =
        std::fs::read(path).map_err(|e| LogError::io(format!("reading {}", path.display()), e))?;
    let mut pos = SEGMENT_HEADER_LEN;
    let mut last = None;
    loop {
        match format::read_slot(&data, pos) {
            Slot::Record(record) if record.zxid <= zxid => {
                last = Some(record.zxid);
                pos = record.end();
            }
            Slot::Record(_) | Slot::End => return Ok((pos as u64, last)),
            Slot::Damaged(damage) => {
                return Err(LogError::Corrupt {
                    file: path.to_owned(),
                    offset: damage.offset as u64,
                    reason: damage.reason,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lone_batches_spin_and_a_vain_spin_pauses_spinning() {
        let mut spin = SpinPolicy::default();
        assert!(!spin.should_spin(), "nothing committed yet");
        spin.committed(3);
        assert!(!spin.should_spin(), "a batch of several records");
        spin.committed(1);
        assert!(spin.should_spin());
        spin.spun(true);
        assert!(spin.should_spin(), "the last spin caught a record");
        spin.spun(false);
        for _ in 0..SPIN_BACKOFF {
            assert!(!spin.should_spin());
        }
        assert!(spin.should_spin(), "spinning resumes after the back-off");
    }
}
