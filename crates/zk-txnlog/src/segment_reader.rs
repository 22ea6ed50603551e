//! Reading a segment's records front to back through a bounded window of the file, so that
//! reading the log back holds one record (and up to a window's worth around it) in memory, not
//! the whole segment, and stops at the end of the data instead of reading the preallocated
//! zeros after it.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::format::{self, HeaderError, MAX_PAYLOAD_LEN, RECORD_HEADER_LEN, SECTOR, Slot};
use crate::format::{SEGMENT_HEADER_LEN, SegmentHeader};

/// Bytes read from the file at a time.
const READ_STEP: usize = 1 << 20;

/// A segment file being read in order.
#[derive(Debug)]
pub(crate) struct SegmentReader {
    path: PathBuf,
    file: File,
    /// The file's bytes from offset `window_start` on, as far as read.
    window: Vec<u8>,
    /// A multiple of [`SECTOR`], as [`format::read_slot_in`] needs.
    window_start: usize,
    at_eof: bool,
    /// Offset of the next slot.
    next: usize,
}

impl SegmentReader {
    pub fn open(path: &Path) -> io::Result<Self> {
        Ok(SegmentReader {
            path: path.to_owned(),
            file: File::open(path)?,
            window: Vec::new(),
            window_start: 0,
            at_eof: false,
            next: SEGMENT_HEADER_LEN,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The segment's header.
    pub fn header(&mut self) -> io::Result<Result<SegmentHeader, HeaderError>> {
        self.fill_to(0, SEGMENT_HEADER_LEN)?;
        Ok(format::decode_segment_header(&self.window))
    }

    /// The slot after the last record returned; a record moves the reader past it.
    pub fn next_slot(&mut self) -> io::Result<Slot<'_>> {
        let offset = self.next;
        self.fill_to(offset, RECORD_HEADER_LEN)?;
        let at = offset - self.window_start;
        if let Some(len) = self.window.get(at..at + 4) {
            let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
            if len <= MAX_PAYLOAD_LEN {
                self.fill_to(offset, RECORD_HEADER_LEN + len)?;
            }
        }
        let slot = format::read_slot_in(&self.window, self.window_start, offset);
        if let Slot::Record(record) = &slot {
            self.next = record.end();
        }
        Ok(slot)
    }

    /// Makes the window hold `len` bytes from file offset `offset` (fewer at the end of the
    /// file). Before reading more, it drops what lies before the sector holding `offset`: one
    /// move per step read, not per record.
    fn fill_to(&mut self, offset: usize, len: usize) -> io::Result<()> {
        let wanted_end = offset + len;
        if self.at_eof || wanted_end <= self.window_start + self.window.len() {
            return Ok(());
        }
        let keep_from = offset / SECTOR * SECTOR;
        if keep_from > self.window_start {
            let drop = (keep_from - self.window_start).min(self.window.len());
            self.window.drain(..drop);
            self.window_start += drop;
        }
        let wanted = wanted_end - self.window_start;
        while self.window.len() < wanted && !self.at_eof {
            let have = self.window.len();
            let step = (wanted - have).max(READ_STEP);
            self.window.resize(have + step, 0);
            let read = read_some(&mut self.file, &mut self.window[have..])?;
            self.window.truncate(have + read);
            self.at_eof = read == 0;
        }
        Ok(())
    }
}

/// Reads what the file gives, retrying interruptions; 0 only at the end of the file.
fn read_some(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match file.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{encode_record, encode_segment_header};

    /// Records across window steps, one larger than a step, then preallocated zeros: every
    /// record comes back, then the end; a record cut short by the end of the file is damage.
    #[test]
    fn reads_records_across_window_steps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("segment");
        let mut data = encode_segment_header(SegmentHeader {
            db_id: 7,
            base_zxid: 1,
        })
        .to_vec();
        let sizes: Vec<usize> = (1..200)
            .map(|i| {
                if i == 100 {
                    3 * READ_STEP
                } else {
                    i * 97 % 20_000
                }
            })
            .collect();
        for (zxid, size) in (1..).zip(&sizes) {
            let payload = vec![zxid as u8; *size];
            encode_record(&mut data, zxid, SEGMENT_HEADER_LEN as u64, &payload);
        }
        let data_end = data.len();
        data.resize(data_end + 2 * READ_STEP, 0);
        std::fs::write(&path, &data).unwrap();

        let mut reader = SegmentReader::open(&path).unwrap();
        assert_eq!(reader.header().unwrap().unwrap().base_zxid, 1);
        for (zxid, size) in (1..).zip(&sizes) {
            match reader.next_slot().unwrap() {
                Slot::Record(record) => {
                    assert_eq!((record.zxid, record.payload.len()), (zxid, *size));
                    assert!(record.payload.iter().all(|b| *b == zxid as u8));
                }
                other => panic!("record {zxid}: {other:?}"),
            }
        }
        assert_eq!(reader.next_slot().unwrap(), Slot::End);
        assert!(reader.window.len() < 5 * READ_STEP);

        std::fs::write(&path, &data[..data_end - 10]).unwrap();
        let mut cut = SegmentReader::open(&path).unwrap();
        let mut records = 0;
        let damage = loop {
            match cut.next_slot().unwrap() {
                Slot::Record(_) => records += 1,
                Slot::End => panic!("a cut record read as the end"),
                Slot::Damaged(damage) => break damage,
            }
        };
        assert_eq!(records, sizes.len() - 1);
        assert!(damage.torn_like);
    }
}
