//! The newest records appended, kept in memory so that reading back the recent history (a new
//! leader's catch-up and DIFF right after a failover) does not read segment files.

use std::collections::VecDeque;

use bytes::Bytes;

/// Most payload bytes kept.
const MAX_BYTES: usize = 32 << 20;

/// The newest appended records, in zxid order, without gaps: every record appended since the
/// oldest one kept is here.
#[derive(Debug)]
pub(crate) struct RecentRecords {
    records: VecDeque<(i64, Bytes)>,
    bytes: usize,
    /// Most records kept.
    max_records: usize,
}

impl RecentRecords {
    pub fn new(max_records: usize) -> Self {
        RecentRecords {
            records: VecDeque::new(),
            bytes: 0,
            max_records,
        }
    }

    /// Adds a record appended after every one held (the log checks zxids increase).
    pub fn push(&mut self, zxid: i64, payload: Bytes) {
        if self.max_records == 0 {
            return;
        }
        self.bytes += payload.len();
        self.records.push_back((zxid, payload));
        while self.records.len() > self.max_records || self.bytes > MAX_BYTES {
            let Some((_, dropped)) = self.records.pop_front() else {
                break;
            };
            self.bytes -= dropped.len();
        }
    }

    /// Forgets the records above `zxid` (the log was cut there).
    pub fn truncate_after(&mut self, zxid: i64) {
        while self.records.back().is_some_and(|(last, _)| *last > zxid) {
            if let Some((_, dropped)) = self.records.pop_back() {
                self.bytes -= dropped.len();
            }
        }
    }

    /// Every record with `from <= zxid <= limit`, if all of them are held.
    pub fn range(&self, from: i64, limit: i64) -> Option<Vec<(i64, Bytes)>> {
        let (oldest, _) = self.records.front()?;
        if from < *oldest {
            return None;
        }
        let start = self.records.partition_point(|(zxid, _)| *zxid < from);
        Some(
            self.records
                .range(start..)
                .take_while(|(zxid, _)| *zxid <= limit)
                .cloned()
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_only_ranges_it_holds_whole() {
        let mut recent = RecentRecords::new(100);
        assert_eq!(recent.range(1, 10), None);
        for zxid in [5, 6, 8, 9] {
            recent.push(zxid, Bytes::from(vec![zxid as u8]));
        }
        let zxids = |recent: &RecentRecords, from, limit| {
            recent
                .range(from, limit)
                .map(|r| r.iter().map(|(z, _)| *z).collect::<Vec<_>>())
        };
        assert_eq!(zxids(&recent, 4, 9), None, "record 4 may be on disk only");
        assert_eq!(zxids(&recent, 5, 9), Some(vec![5, 6, 8, 9]));
        assert_eq!(zxids(&recent, 7, 8), Some(vec![8]), "gaps between zxids");
        assert_eq!(zxids(&recent, 10, 20), Some(vec![]));
        recent.truncate_after(6);
        assert_eq!(zxids(&recent, 5, 20), Some(vec![5, 6]));
        recent.push(7, Bytes::from_static(b"x"));
        assert_eq!(zxids(&recent, 6, 20), Some(vec![6, 7]));
    }

    #[test]
    fn drops_the_oldest_beyond_its_bounds() {
        let mut recent = RecentRecords::new(1000);
        for zxid in 0..1010 {
            recent.push(zxid, Bytes::from_static(b"p"));
        }
        assert_eq!(recent.range(9, 9), None);
        assert_eq!(recent.range(10, 10).map(|r| r.len()), Some(1));
        recent.push(1 << 40, Bytes::from(vec![0; MAX_BYTES]));
        assert_eq!(
            recent.records.len(),
            1,
            "one record may exceed the byte bound alone"
        );
    }

    #[test]
    fn keeps_nothing_when_told_to() {
        let mut recent = RecentRecords::new(0);
        recent.push(1, Bytes::from_static(b"p"));
        assert_eq!(recent.range(1, 1), None);
    }
}
