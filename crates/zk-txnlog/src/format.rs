//! Byte layout of a log segment (pure functions, no I/O).
//!
//! ```text
//! segment header (32 bytes, little-endian)
//!   0  magic        b"ZKRL"
//!   4  version      u32 = 1
//!   8  db_id        u64
//!  16  base_zxid    i64   (equals the zxid in the file name)
//!  24  reserved     u32 = 0
//!  28  header_crc   u32   CRC32C of bytes 0..28
//! records, back to back
//!   0  len          u32   payload length
//!   4  crc          u32   CRC32C of len ++ zxid ++ batch_start ++ payload
//!   8  zxid         i64
//!  16  batch_start  u64   file offset of the first record of the group commit this record belongs to
//!  24  payload      len bytes
//! zero bytes up to the preallocated end of the file
//! ```
//!
//! A record header of 24 zero bytes marks the end of the data: a real header is never all zero because
//! CRC32C of 20 zero bytes is not zero (checked in a unit test). `batch_start` lets recovery tell a torn
//! final group commit (never acknowledged) from damage to an earlier, acknowledged one.

/// Size of the segment file header.
pub const SEGMENT_HEADER_LEN: usize = 32;
/// Size of the header in front of every record payload.
pub const RECORD_HEADER_LEN: usize = 24;
/// Largest payload a record may carry (a sanity bound that also rejects garbage length fields).
pub const MAX_PAYLOAD_LEN: usize = 1 << 28;
/// Granularity at which a crash can leave part of a record unwritten (the disk sector).
pub(crate) const SECTOR: usize = 512;

const SEGMENT_MAGIC: [u8; 4] = *b"ZKRL";
const FORMAT_VERSION: u32 = 1;

/// Bytes a record with a payload of `payload_len` bytes occupies in a segment.
pub const fn encoded_len(payload_len: usize) -> usize {
    RECORD_HEADER_LEN + payload_len
}

/// The decoded segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    pub db_id: u64,
    pub base_zxid: i64,
}

/// Why a segment header was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// Fewer than [`SEGMENT_HEADER_LEN`] bytes, or all of them zero: the file was created but its
    /// header never reached the disk.
    Missing,
    /// A header is present but wrong.
    Invalid(String),
}

pub(crate) fn encode_segment_header(header: SegmentHeader) -> [u8; SEGMENT_HEADER_LEN] {
    let mut out = [0u8; SEGMENT_HEADER_LEN];
    out[0..4].copy_from_slice(&SEGMENT_MAGIC);
    out[4..8].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    out[8..16].copy_from_slice(&header.db_id.to_le_bytes());
    out[16..24].copy_from_slice(&header.base_zxid.to_le_bytes());
    let crc = crc32c::crc32c(&out[0..28]);
    out[28..32].copy_from_slice(&crc.to_le_bytes());
    out
}

pub(crate) fn decode_segment_header(data: &[u8]) -> Result<SegmentHeader, HeaderError> {
    let Some(bytes) = data.get(..SEGMENT_HEADER_LEN) else {
        return Err(HeaderError::Missing);
    };
    if bytes.iter().all(|b| *b == 0) {
        return Err(HeaderError::Missing);
    }
    if bytes[0..4] != SEGMENT_MAGIC {
        return Err(HeaderError::Invalid(
            "bad magic: not a zk-txnlog segment".into(),
        ));
    }
    let stored_crc = u32_at(bytes, 28);
    if crc32c::crc32c(&bytes[0..28]) != stored_crc {
        return Err(HeaderError::Invalid(
            "segment header checksum mismatch".into(),
        ));
    }
    let version = u32_at(bytes, 4);
    if version != FORMAT_VERSION {
        return Err(HeaderError::Invalid(format!(
            "unsupported segment format version {version}"
        )));
    }
    Ok(SegmentHeader {
        db_id: u64_at(bytes, 8),
        base_zxid: u64_at(bytes, 16) as i64,
    })
}

/// Appends one encoded record to `out`.
pub(crate) fn encode_record(out: &mut Vec<u8>, zxid: i64, batch_start: u64, payload: &[u8]) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut header = [0u8; RECORD_HEADER_LEN];
    header[0..4].copy_from_slice(&len.to_le_bytes());
    header[8..16].copy_from_slice(&zxid.to_le_bytes());
    header[16..24].copy_from_slice(&batch_start.to_le_bytes());
    let crc = record_crc(&header, payload);
    header[4..8].copy_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(payload);
}

fn record_crc(header: &[u8], payload: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&header[0..4]);
    let crc = crc32c::crc32c_append(crc, &header[8..RECORD_HEADER_LEN]);
    crc32c::crc32c_append(crc, payload)
}

/// A whole record whose checksum verified, borrowed from the segment bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordView<'a> {
    pub offset: usize,
    pub zxid: i64,
    pub batch_start: u64,
    pub payload: &'a [u8],
}

impl RecordView<'_> {
    /// Offset just past this record.
    pub fn end(&self) -> usize {
        self.offset + RECORD_HEADER_LEN + self.payload.len()
    }
}

/// What sits at a given offset of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Slot<'a> {
    Record(RecordView<'a>),
    /// End of file, or a zero header (preallocated space).
    End,
    /// Something that is neither a record nor the end.
    Damaged(Damage),
}

/// A bad record and what kind of damage it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Damage {
    pub offset: usize,
    /// True when the bytes look like an interrupted write rather than altered data: the record runs
    /// past the end of the file, or one of its sector-sized pieces is still all zeros.
    pub torn_like: bool,
    pub reason: String,
}

/// Reads the slot at `offset`.
pub(crate) fn read_slot(data: &[u8], offset: usize) -> Slot<'_> {
    read_slot_in(data, 0, offset)
}

/// Reads the slot at file offset `offset` from `window`, the file's bytes from offset `base` (a
/// multiple of [`SECTOR`]) to the end of the file or beyond the slot.
pub(crate) fn read_slot_in(window: &[u8], base: usize, offset: usize) -> Slot<'_> {
    let at = offset.saturating_sub(base);
    let rest = window.get(at..).unwrap_or(&[]);
    if rest.is_empty() {
        return Slot::End;
    }
    let Some(header) = rest.get(..RECORD_HEADER_LEN) else {
        if rest.iter().all(|b| *b == 0) {
            return Slot::End;
        }
        return Slot::Damaged(Damage {
            offset,
            torn_like: true,
            reason: format!(
                "partial record header ({} bytes before end of file)",
                rest.len()
            ),
        });
    };
    if header.iter().all(|b| *b == 0) {
        return Slot::End;
    }
    let len = u32_at(header, 0) as usize;
    let stored_crc = u32_at(header, 4);
    let zxid = u64_at(header, 8) as i64;
    let batch_start = u64_at(header, 16);
    if len > MAX_PAYLOAD_LEN {
        return Slot::Damaged(Damage {
            offset,
            torn_like: false,
            reason: format!("record length {len} exceeds the maximum"),
        });
    }
    let Some(payload) = rest.get(RECORD_HEADER_LEN..RECORD_HEADER_LEN + len) else {
        return Slot::Damaged(Damage {
            offset,
            torn_like: true,
            reason: format!("record of {len} bytes is cut off by the end of file"),
        });
    };
    if record_crc(header, payload) != stored_crc {
        return Slot::Damaged(Damage {
            offset,
            torn_like: has_zero_sector_piece(window, at, at + RECORD_HEADER_LEN + len),
            reason: "record checksum mismatch".into(),
        });
    }
    if batch_start > offset as u64 || batch_start < SEGMENT_HEADER_LEN as u64 {
        return Slot::Damaged(Damage {
            offset,
            torn_like: false,
            reason: format!("record claims its batch starts at {batch_start}"),
        });
    }
    Slot::Record(RecordView {
        offset,
        zxid,
        batch_start,
        payload,
    })
}

/// True if some sector-aligned piece of `data[start..end]` is entirely zero: what a write interrupted
/// by a crash leaves behind in preallocated (zeroed) space.
pub(crate) fn has_zero_sector_piece(data: &[u8], start: usize, end: usize) -> bool {
    let mut piece_start = start;
    while piece_start < end {
        let piece_end = ((piece_start / SECTOR + 1) * SECTOR).min(end);
        match data.get(piece_start..piece_end) {
            Some(piece) if piece.iter().all(|b| *b == 0) => return true,
            Some(_) => {}
            None => return true,
        }
        piece_start = piece_end;
    }
    false
}

/// Every whole, checksummed record found anywhere after `from` with a zxid above `min_zxid`, found by
/// trying every offset that could start a record. Used only after damage, to learn what follows it.
pub(crate) fn valid_records_after(
    data: &[u8],
    from: usize,
    min_zxid: i64,
) -> impl Iterator<Item = RecordView<'_>> {
    let mut pos = from;
    std::iter::from_fn(move || {
        while pos < data.len() {
            // A header is not all zeros, so a candidate start lies at most one header before the next
            // non-zero byte: jump over zero runs (preallocated space) in one step.
            let next_nonzero = first_nonzero(data, pos)?;
            let first = pos.max(next_nonzero.saturating_sub(RECORD_HEADER_LEN - 1));
            for candidate in first..=next_nonzero {
                if let Slot::Record(record) = read_slot(data, candidate)
                    && record.zxid > min_zxid
                {
                    pos = record.end();
                    return Some(record);
                }
            }
            pos = next_nonzero + 1;
        }
        None
    })
}

/// Index of the first non-zero byte at or after `from`. Tests whole blocks with an OR-fold, which
/// compiles to wide loads: the preallocated tail of a segment is megabytes of zeros.
pub(crate) fn first_nonzero(data: &[u8], from: usize) -> Option<usize> {
    const BLOCK: usize = 256;
    let rest = data.get(from..)?;
    for (index, block) in rest.chunks(BLOCK).enumerate() {
        if block.iter().fold(0u8, |acc, b| acc | b) != 0 {
            let within = block.iter().position(|b| *b != 0)?;
            return Some(from + index * BLOCK + within);
        }
    }
    None
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut buf = [0u8; 4];
    if let Some(src) = bytes.get(at..at + 4) {
        buf.copy_from_slice(src);
    }
    u32::from_le_bytes(buf)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut buf = [0u8; 8];
    if let Some(src) = bytes.get(at..at + 8) {
        buf.copy_from_slice(src);
    }
    u64::from_le_bytes(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(records: &[(i64, &[u8])]) -> Vec<u8> {
        let mut data = encode_segment_header(SegmentHeader {
            db_id: 7,
            base_zxid: 1,
        })
        .to_vec();
        for (zxid, payload) in records {
            let start = data.len() as u64;
            encode_record(&mut data, *zxid, start, payload);
        }
        data
    }

    #[test]
    fn a_real_record_header_is_never_all_zero() {
        let mut out = Vec::new();
        encode_record(&mut out, 0, 0, b"");
        assert!(out.iter().any(|b| *b != 0));
    }

    #[test]
    fn header_round_trips_and_rejects_damage() {
        let header = SegmentHeader {
            db_id: 42,
            base_zxid: 0x1_0000_0001,
        };
        let mut bytes = encode_segment_header(header);
        assert_eq!(decode_segment_header(&bytes), Ok(header));
        assert_eq!(
            decode_segment_header(&bytes[..10]),
            Err(HeaderError::Missing)
        );
        assert_eq!(
            decode_segment_header(&[0u8; SEGMENT_HEADER_LEN]),
            Err(HeaderError::Missing)
        );
        bytes[9] ^= 1;
        assert!(matches!(
            decode_segment_header(&bytes),
            Err(HeaderError::Invalid(_))
        ));
    }

    #[test]
    fn records_round_trip_and_zero_padding_ends_them() {
        let mut data = segment(&[(1, b"one"), (2, b"two!")]);
        data.extend_from_slice(&[0u8; 100]);
        let Slot::Record(first) = read_slot(&data, SEGMENT_HEADER_LEN) else {
            panic!("first record")
        };
        assert_eq!((first.zxid, first.payload), (1, &b"one"[..]));
        let Slot::Record(second) = read_slot(&data, first.end()) else {
            panic!("second record")
        };
        assert_eq!((second.zxid, second.payload), (2, &b"two!"[..]));
        assert_eq!(read_slot(&data, second.end()), Slot::End);
        assert_eq!(read_slot(&data, data.len()), Slot::End);
    }

    #[test]
    fn a_cut_record_is_torn_like_and_a_flipped_byte_is_not() {
        let data = segment(&[(1, b"hello world")]);
        let cut = &data[..data.len() - 3];
        assert!(matches!(
            read_slot(cut, SEGMENT_HEADER_LEN),
            Slot::Damaged(Damage {
                torn_like: true,
                ..
            })
        ));
        let mut flipped = data.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x40;
        assert!(matches!(
            read_slot(&flipped, SEGMENT_HEADER_LEN),
            Slot::Damaged(Damage {
                torn_like: false,
                ..
            })
        ));
    }

    #[test]
    fn a_record_missing_a_sector_is_torn_like() {
        let payload = vec![0xAB; 2000];
        let mut data = segment(&[(1, &payload)]);
        // The sector holding bytes 1024..1536 never reached the disk.
        data[1024..1536].fill(0);
        assert!(matches!(
            read_slot(&data, SEGMENT_HEADER_LEN),
            Slot::Damaged(Damage {
                torn_like: true,
                ..
            })
        ));
    }

    #[test]
    fn first_nonzero_finds_bytes_in_any_block() {
        let mut data = vec![0u8; 1000];
        assert_eq!(first_nonzero(&data, 0), None);
        data[700] = 3;
        assert_eq!(first_nonzero(&data, 0), Some(700));
        assert_eq!(first_nonzero(&data, 700), Some(700));
        assert_eq!(first_nonzero(&data, 701), None);
        assert_eq!(first_nonzero(&data, 5000), None);
    }

    #[test]
    fn valid_records_are_found_after_garbage() {
        let mut data = segment(&[(1, b"aaaa")]);
        let garbage_at = data.len();
        data.extend_from_slice(&[0xFF; 37]);
        data.extend_from_slice(&[0; 1000]);
        let start = data.len() as u64;
        encode_record(&mut data, 9, start, b"later");
        let found: Vec<i64> = valid_records_after(&data, garbage_at, 1)
            .map(|r| r.zxid)
            .collect();
        assert_eq!(found, vec![9]);
        let none: Vec<i64> = valid_records_after(&data, garbage_at, 9)
            .map(|r| r.zxid)
            .collect();
        assert!(none.is_empty());
    }
}
