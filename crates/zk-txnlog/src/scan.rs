//! Recovery's judgement of one segment (pure: bytes in, verdict out).
//!
//! The writer has at most one group commit in flight, and it starts the next one only after the
//! previous `fdatasync` returned. So after a crash only the *last* group commit of the *last* segment
//! can be incomplete, and it was never acknowledged: cutting it off loses nothing. Anything else that
//! fails to verify is damage to acknowledged data, and recovery must refuse rather than drop it.
//!
//! Verdict for the first slot that is not a whole record (a zero header or a bad record) at offset `o`:
//! * a valid record from a *later* group commit (its `batch_start > o`) follows → corruption: that
//!   later commit was only written after the one holding `o` was durable;
//! * not the last segment → corruption if anything but zeros follows;
//! * last segment, nothing valid follows → torn tail (covers a cut record, a checksum mismatch in the
//!   last record, garbage in preallocated space);
//! * last segment, records of the same group commit follow → torn tail only if the bad slot looks like
//!   an interrupted write (zero header, a record cut by end of file, or a sector-sized piece of it still
//!   zero, which is what out-of-order sector writes leave); a record with altered bytes but no missing
//!   sector is corruption.

use crate::format::{self, SEGMENT_HEADER_LEN, Slot};

/// What a scan of one segment found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentScan {
    pub records: u64,
    pub first_zxid: Option<i64>,
    pub last_zxid: Option<i64>,
    /// Offset just past the last whole record: where the next append goes.
    pub valid_end: usize,
    pub tail: Tail,
}

/// How the data of a segment ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tail {
    /// Only zeros (or nothing) after the last record.
    Clean,
    /// An interrupted final write that must be cut off at `valid_end`.
    Torn { reason: String },
}

/// Damage that recovery must not silently cut away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Corruption {
    pub offset: usize,
    pub reason: String,
}

/// Scans the records of a segment whose header has been checked. Every record's zxid must be above
/// `prev_zxid` (the last zxid of the previous segment) and above the record before it.
pub(crate) fn scan_segment(
    data: &[u8],
    prev_zxid: i64,
    is_last: bool,
) -> Result<SegmentScan, Corruption> {
    let mut scan = SegmentScan {
        records: 0,
        first_zxid: None,
        last_zxid: None,
        valid_end: SEGMENT_HEADER_LEN,
        tail: Tail::Clean,
    };
    let mut last = prev_zxid;
    loop {
        let pos = scan.valid_end;
        let damage = match format::read_slot(data, pos) {
            Slot::Record(record) => {
                if record.zxid <= last {
                    return Err(Corruption {
                        offset: pos,
                        reason: format!(
                            "record zxid {:#x} is not above the previous zxid {last:#x}",
                            record.zxid
                        ),
                    });
                }
                last = record.zxid;
                scan.first_zxid.get_or_insert(record.zxid);
                scan.last_zxid = Some(record.zxid);
                scan.records += 1;
                scan.valid_end = record.end();
                continue;
            }
            Slot::End => None,
            Slot::Damaged(damage) => Some(damage),
        };
        scan.tail = judge_stop(data, pos, last, is_last, damage)?;
        return Ok(scan);
    }
}

fn judge_stop(
    data: &[u8],
    pos: usize,
    last_zxid: i64,
    is_last: bool,
    damage: Option<format::Damage>,
) -> Result<Tail, Corruption> {
    let what = damage
        .as_ref()
        .map_or_else(|| "zero-filled gap".to_owned(), |d| d.reason.clone());
    let mut followed = false;
    for record in format::valid_records_after(data, pos + 1, last_zxid) {
        if record.batch_start > pos as u64 {
            return Err(Corruption {
                offset: pos,
                reason: format!(
                    "{what}, followed by record {:#x} at offset {} from a later group commit",
                    record.zxid, record.offset
                ),
            });
        }
        followed = true;
    }
    let trailing_garbage = format::first_nonzero(data, pos).is_some();
    if !is_last {
        if damage.is_none() && !followed && !trailing_garbage {
            return Ok(Tail::Clean);
        }
        return Err(Corruption {
            offset: pos,
            reason: format!("{what} in a segment that is not the last one"),
        });
    }
    let torn_like = damage.as_ref().is_none_or(|d| d.torn_like);
    match (damage.is_none(), followed) {
        (true, false) if !trailing_garbage => Ok(Tail::Clean),
        (_, false) => Ok(Tail::Torn { reason: what }),
        (_, true) if torn_like => Ok(Tail::Torn {
            reason: format!("{what}, followed by records of the same unfinished group commit"),
        }),
        (_, true) => Err(Corruption {
            offset: pos,
            reason: format!("{what}, followed by valid records"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{SegmentHeader, encode_record, encode_segment_header};

    /// Builds a segment from group commits (each inner slice is one batch) plus zero padding.
    fn segment(batches: &[&[(i64, &[u8])]]) -> (Vec<u8>, Vec<usize>) {
        let mut data = encode_segment_header(SegmentHeader {
            db_id: 0,
            base_zxid: 1,
        })
        .to_vec();
        let mut offsets = Vec::new();
        for batch in batches {
            let start = data.len() as u64;
            for (zxid, payload) in *batch {
                offsets.push(data.len());
                encode_record(&mut data, *zxid, start, payload);
            }
        }
        data.extend_from_slice(&[0u8; 4096]);
        (data, offsets)
    }

    #[test]
    fn a_clean_segment_reports_every_record() {
        let (data, _) = segment(&[&[(1, b"a"), (2, b"bb")], &[(3, b"ccc")]]);
        let scan = scan_segment(&data, 0, true).unwrap();
        assert_eq!(scan.records, 3);
        assert_eq!((scan.first_zxid, scan.last_zxid), (Some(1), Some(3)));
        assert_eq!(scan.tail, Tail::Clean);
        assert_eq!(scan.valid_end, data.len() - 4096);
    }

    #[test]
    fn checksum_mismatch_in_the_last_record_is_a_torn_tail() {
        let (mut data, offsets) = segment(&[&[(1, b"a")], &[(2, b"second")]]);
        data[offsets[1] + 26] ^= 1;
        let scan = scan_segment(&data, 0, true).unwrap();
        assert_eq!(scan.last_zxid, Some(1));
        assert_eq!(scan.valid_end, offsets[1]);
        assert!(matches!(scan.tail, Tail::Torn { .. }));
        // The same damage in a segment that is not the last one is refused.
        assert_eq!(
            scan_segment(&data, 0, false).unwrap_err().offset,
            offsets[1]
        );
    }

    #[test]
    fn damage_followed_by_a_later_group_commit_is_corruption() {
        let (mut data, offsets) = segment(&[&[(1, b"first")], &[(2, b"second")], &[(3, b"x")]]);
        data[offsets[1] + 25] ^= 0x10;
        let err = scan_segment(&data, 0, true).unwrap_err();
        assert_eq!(err.offset, offsets[1]);
        // Even a zeroed record is refused when a later group commit follows it.
        let (mut zeroed, offsets) = segment(&[&[(1, b"first")], &[(2, b"second")], &[(3, b"x")]]);
        zeroed[offsets[1]..offsets[2]].fill(0);
        assert_eq!(
            scan_segment(&zeroed, 0, true).unwrap_err().offset,
            offsets[1]
        );
    }

    #[test]
    fn a_torn_write_inside_the_last_group_commit_is_cut() {
        let big = vec![7u8; 1500];
        let (mut data, offsets) = segment(&[&[(1, b"a")], &[(2, &big), (3, b"tail")]]);
        // The sector-sized piece in the middle of record 2 never reached the disk, record 3 did.
        let hole = (offsets[1] / 512 + 1) * 512;
        data[hole..hole + 512].fill(0);
        let scan = scan_segment(&data, 0, true).unwrap();
        assert_eq!(scan.last_zxid, Some(1));
        assert!(matches!(scan.tail, Tail::Torn { .. }));
    }

    #[test]
    fn altered_bytes_inside_an_acknowledged_batch_are_corruption() {
        let (mut data, offsets) = segment(&[&[(1, b"a"), (2, b"bbbb"), (3, b"cccc")]]);
        data[offsets[1] + 25] ^= 0x01;
        assert_eq!(scan_segment(&data, 0, true).unwrap_err().offset, offsets[1]);
    }

    #[test]
    fn garbage_after_the_data_is_torn_in_the_last_segment_only() {
        let (mut data, _) = segment(&[&[(1, b"a")]]);
        let n = data.len();
        data[n - 100] = 0x55;
        assert!(matches!(
            scan_segment(&data, 0, true).unwrap().tail,
            Tail::Torn { .. }
        ));
        assert!(scan_segment(&data, 0, false).is_err());
    }

    #[test]
    fn decreasing_zxids_are_corruption() {
        let (data, _) = segment(&[&[(5, b"a")], &[(4, b"b")]]);
        assert!(scan_segment(&data, 0, true).is_err());
        let (data, _) = segment(&[&[(5, b"a")]]);
        assert!(scan_segment(&data, 5, true).is_err());
    }
}
