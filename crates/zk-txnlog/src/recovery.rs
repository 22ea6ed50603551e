//! Opening a log directory: scan every segment, cut a torn tail, refuse real damage (I/O around the
//! pure judgement in [`crate::scan`]).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::error::{LogError, Result};
use crate::format::{self, HeaderError, SEGMENT_HEADER_LEN};
use crate::fsutil;
use crate::log::LogOptions;
use crate::naming::{self, LOG_PREFIX};
use crate::scan::{self, Tail};

/// What [`crate::TxnLog::open`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segment files that hold records after recovery.
    pub segments: usize,
    /// Records in the log after recovery.
    pub records: u64,
    /// Lowest zxid in the log.
    pub first_zxid: Option<i64>,
    /// Highest zxid in the log, -1 when the log is empty.
    pub last_zxid: i64,
    /// The interrupted final write that was cut off, if any.
    pub torn_tail: Option<TornTail>,
    /// Last segment files deleted because they held no record (crash right after a roll).
    pub removed_segments: Vec<PathBuf>,
    /// Damage cut away because [`LogOptions::truncate_corrupt_tail_at_own_risk`] was set.
    pub discarded_corruption: Option<DiscardedCorruption>,
}

/// A torn tail that recovery truncated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The last segment.
    pub file: PathBuf,
    /// Where the file now ends.
    pub offset: u64,
    /// Bytes (data and preallocated space) removed after `offset`.
    pub discarded_bytes: u64,
    /// What the cut-off bytes looked like.
    pub reason: String,
}

/// Corruption that was cut away on request, losing whatever followed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscardedCorruption {
    /// The damaged file.
    pub file: PathBuf,
    /// Where it was cut.
    pub offset: u64,
    /// What was wrong.
    pub reason: String,
    /// Later segment files deleted with it.
    pub deleted_segments: Vec<PathBuf>,
}

/// The segment the writer continues in.
#[derive(Debug)]
pub(crate) struct OpenSegment {
    pub path: PathBuf,
    pub file: File,
    /// End of the data: where the next record goes.
    pub end: u64,
    /// Current file length (data plus preallocated zeros).
    pub allocated: u64,
    /// End of the bytes actually written (data, then zeros): up to here a write needs no new
    /// blocks, so its sync flushes only data (see `Writer::zero_ahead`).
    pub written: u64,
}

pub(crate) struct Recovered {
    pub report: RecoveryReport,
    pub current: Option<OpenSegment>,
}

/// Damage found by a scan, before deciding whether to refuse or cut.
struct Damage {
    index: usize,
    file: PathBuf,
    offset: u64,
    reason: String,
}

/// A segment that holds records, as the scan left it.
struct Survivor {
    path: PathBuf,
    end: u64,
    len: u64,
}

pub(crate) fn recover(dir: &Path, options: &LogOptions) -> Result<Recovered> {
    let mut discarded = None;
    loop {
        match scan_directory(dir, options)? {
            Ok((mut report, survivor)) => {
                report.discarded_corruption = discarded;
                let current = survivor.map(|s| open_for_append(&s)).transpose()?;
                fsutil::sync_dir(dir)?;
                return Ok(Recovered { report, current });
            }
            Err(damage) if options.truncate_corrupt_tail_at_own_risk && discarded.is_none() => {
                discarded = Some(cut_at_damage(dir, damage)?);
            }
            Err(damage) => {
                return Err(LogError::Corrupt {
                    file: damage.file,
                    offset: damage.offset,
                    reason: damage.reason,
                });
            }
        }
    }
}

type ScanResult = std::result::Result<(RecoveryReport, Option<Survivor>), Damage>;

fn scan_directory(dir: &Path, options: &LogOptions) -> Result<ScanResult> {
    let segments = naming::list(dir, LOG_PREFIX)
        .map_err(|e| LogError::io(format!("listing {}", dir.display()), e))?;
    let mut report = RecoveryReport {
        segments: 0,
        records: 0,
        first_zxid: None,
        last_zxid: -1,
        torn_tail: None,
        removed_segments: Vec::new(),
        discarded_corruption: None,
    };
    let mut survivor = None;
    for (index, (base_zxid, path)) in segments.iter().enumerate() {
        let is_last = index + 1 == segments.len();
        let data = std::fs::read(path)
            .map_err(|e| LogError::io(format!("reading {}", path.display()), e))?;
        let damage = |offset: usize, reason: String| Damage {
            index,
            file: path.clone(),
            offset: offset as u64,
            reason,
        };
        match format::decode_segment_header(&data) {
            Err(HeaderError::Missing) if is_last => {
                tracing::warn!(file = %path.display(), "deleting last log segment without a header (crash while creating it)");
                remove_segment(dir, path, &mut report)?;
                break;
            }
            Err(HeaderError::Missing) => {
                return Ok(Err(damage(0, "segment header missing".into())));
            }
            Err(HeaderError::Invalid(reason)) => return Ok(Err(damage(0, reason))),
            Ok(header) if header.db_id != options.db_id => {
                return Err(LogError::BadFile {
                    file: path.clone(),
                    reason: format!(
                        "belongs to database {} but this log is database {}",
                        header.db_id, options.db_id
                    ),
                });
            }
            Ok(header) if header.base_zxid != *base_zxid => {
                return Ok(Err(damage(
                    0,
                    format!("header names first zxid {:#x}", header.base_zxid),
                )));
            }
            Ok(_) if *base_zxid <= report.last_zxid => {
                return Ok(Err(damage(
                    0,
                    format!(
                        "segment starts at zxid {base_zxid:#x}, not above the previous segment's last zxid {:#x}",
                        report.last_zxid
                    ),
                )));
            }
            Ok(_) => {}
        }
        let prev = report.last_zxid.max(base_zxid - 1);
        let scanned = match scan::scan_segment(&data, prev, is_last) {
            Ok(scanned) => scanned,
            Err(corruption) => return Ok(Err(damage(corruption.offset, corruption.reason))),
        };
        if let Tail::Torn { reason } = &scanned.tail {
            tracing::warn!(file = %path.display(), offset = scanned.valid_end, %reason, "cutting torn tail of the txn log");
            cut_file(path, scanned.valid_end as u64)?;
            report.torn_tail = Some(TornTail {
                file: path.clone(),
                offset: scanned.valid_end as u64,
                discarded_bytes: (data.len() - scanned.valid_end) as u64,
                reason: reason.clone(),
            });
        }
        if scanned.records == 0 && is_last {
            tracing::warn!(file = %path.display(), "deleting last log segment without records");
            remove_segment(dir, path, &mut report)?;
            break;
        }
        report.segments += 1;
        report.records += scanned.records;
        report.first_zxid = report.first_zxid.or(scanned.first_zxid);
        report.last_zxid = scanned.last_zxid.unwrap_or(report.last_zxid);
        let end = scanned.valid_end as u64;
        let len = if matches!(scanned.tail, Tail::Torn { .. }) {
            end
        } else {
            data.len() as u64
        };
        survivor = Some(Survivor {
            path: path.clone(),
            end,
            len,
        });
    }
    Ok(Ok((report, survivor)))
}

fn remove_segment(dir: &Path, path: &Path, report: &mut RecoveryReport) -> Result<()> {
    fsutil::remove_file(path)?;
    fsutil::sync_dir(dir)?;
    report.removed_segments.push(path.to_owned());
    Ok(())
}

/// Shortens a file durably.
fn cut_file(path: &Path, len: u64) -> Result<()> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(len).and_then(|()| f.sync_all()))
        .map_err(|e| LogError::io(format!("truncating {}", path.display()), e))
}

/// The explicit escape hatch: keep what precedes the damage, delete the rest.
fn cut_at_damage(dir: &Path, damage: Damage) -> Result<DiscardedCorruption> {
    tracing::error!(file = %damage.file.display(), offset = damage.offset, reason = %damage.reason,
        "truncate_corrupt_tail_at_own_risk: discarding the log from a damaged record on");
    let segments = naming::list(dir, LOG_PREFIX)
        .map_err(|e| LogError::io(format!("listing {}", dir.display()), e))?;
    let mut deleted_segments = Vec::new();
    for (_, path) in segments.iter().skip(damage.index + 1).rev() {
        fsutil::remove_file(path)?;
        deleted_segments.push(path.clone());
    }
    if damage.offset < SEGMENT_HEADER_LEN as u64 {
        fsutil::remove_file(&damage.file)?;
        deleted_segments.push(damage.file.clone());
    } else {
        cut_file(&damage.file, damage.offset)?;
    }
    fsutil::sync_dir(dir)?;
    Ok(DiscardedCorruption {
        file: damage.file,
        offset: damage.offset,
        reason: damage.reason,
        deleted_segments,
    })
}

/// Opens the segment that new records go to, making whatever recovery kept durable (a killed process
/// may have left a written but not yet synced group commit in the page cache).
fn open_for_append(survivor: &Survivor) -> Result<OpenSegment> {
    let path = &survivor.path;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| LogError::io(format!("opening {}", path.display()), e))?;
    file.sync_data()
        .map_err(|e| LogError::io(format!("syncing {}", path.display()), e))?;
    Ok(OpenSegment {
        path: path.clone(),
        file,
        end: survivor.end,
        allocated: survivor.len,
        written: survivor.end,
    })
}
