//! ZooKeeper's tree digest (ZOOKEEPER-3114): a checksum of the whole tree that every member keeps
//! up to date as it applies transactions, so that members (and ZooKeeper's own files) can be
//! compared. The digest is the wrapping sum over every node of a CRC-32 of its path (the root's
//! as ""), its data and its persisted Stat; nodes under `/zookeeper/` count 0, as in ZooKeeper's
//! `DigestCalculator`. Being a sum, it follows a change by subtracting the node's old digest and
//! adding its new one.
//!
//! The tree records its digest after every transaction whose zxid is a multiple of 128 and keeps
//! the newest 1,024 records: the AdminServer's `hash` command lists them, as ZooKeeper's does.

use std::collections::VecDeque;

use crate::tree::Node;

/// The digest scheme this computes (DigestCalculator's DIGEST_VERSION).
pub const DIGEST_VERSION: i32 = 2;

/// A digest is recorded after each transaction whose zxid is a multiple of this.
const LOG_INTERVAL: i64 = 128;

/// How many recorded digests are kept.
const LOG_LIMIT: usize = 1024;

/// The tree digest after the transaction `zxid` (ZooKeeper's ZxidDigest and TxnDigest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZxidDigest {
    pub zxid: i64,
    pub digest: i64,
}

/// The digest of one node, as the tree sums it.
pub fn of_node(node: &Node) -> i64 {
    let path = node.path();
    if path.starts_with("/zookeeper/") {
        return 0;
    }
    let path = if path == "/" { "" } else { path };
    // czxid, mzxid, pzxid, ctime, mtime, version, cversion, aversion, ephemeralOwner.
    let mut stat = [0u8; 60];
    let longs = [node.czxid, node.mzxid, node.pzxid, node.ctime, node.mtime];
    for (at, long) in longs.iter().enumerate() {
        stat[at * 8..at * 8 + 8].copy_from_slice(&long.to_be_bytes());
    }
    for (at, int) in [node.version, node.cversion, node.aversion]
        .iter()
        .enumerate()
    {
        stat[40 + at * 4..44 + at * 4].copy_from_slice(&int.to_be_bytes());
    }
    stat[52..].copy_from_slice(&node.owner().to_be_bytes());
    let data = node.data().unwrap_or_default();
    let mut crc = crc32fast::Hasher::new();
    let len = path.len() + data.len() + stat.len();
    if len <= JOINED {
        // One update of the whole: crc32fast computes 128 bytes or more with carry-less
        // multiplication, shorter pieces a byte table at a time.
        let mut joined = [0u8; JOINED];
        let (head, rest) = joined.split_at_mut(path.len());
        head.copy_from_slice(path.as_bytes());
        let (middle, tail) = rest.split_at_mut(data.len());
        middle.copy_from_slice(data);
        tail[..stat.len()].copy_from_slice(&stat);
        crc.update(&joined[..len]);
    } else {
        crc.update(path.as_bytes());
        crc.update(data);
        crc.update(&stat);
    }
    i64::from(crc.finalize())
}

/// Nodes whose path, data and Stat fit in this many bytes are digested in one piece.
const JOINED: usize = 512;

/// The digests a tree recorded, oldest first.
#[derive(Debug, Clone, Default)]
pub struct DigestLog {
    records: VecDeque<ZxidDigest>,
}

impl DigestLog {
    /// Notes the digest after the transaction `zxid`. A transaction applied in parts (a
    /// learner's multi) reports its zxid more than once; its last report stands.
    pub fn note(&mut self, zxid: i64, digest: i64) {
        if zxid % LOG_INTERVAL != 0 {
            return;
        }
        let record = ZxidDigest { zxid, digest };
        match self.records.back_mut() {
            Some(last) if last.zxid == zxid => *last = record,
            _ => {
                self.records.push_back(record);
                if self.records.len() > LOG_LIMIT {
                    self.records.pop_front();
                }
            }
        }
    }

    pub fn records(&self) -> impl Iterator<Item = ZxidDigest> + '_ {
        self.records.iter().copied()
    }
}

/// The tree's digest summed afresh over every node: what [`DataTree::digest`] keeps up to date.
#[cfg(test)]
pub(crate) fn recomputed(tree: &crate::tree::DataTree) -> i64 {
    tree.walk()
        .map(|(_, node)| of_node(node))
        .fold(0, i64::wrapping_add)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::intern_acl;

    #[test]
    fn a_node_digest_is_crc32_of_path_data_and_stat() {
        let acl = intern_acl(&[]);
        let node = Node::new("/a", Some(b"x"), acl.clone(), 0, 5, 1000);
        let mut bytes = b"/ax".to_vec();
        for long in [5i64, 5, 5, 1000, 1000] {
            bytes.extend_from_slice(&long.to_be_bytes());
        }
        for int in [0i32, 0, 0] {
            bytes.extend_from_slice(&int.to_be_bytes());
        }
        bytes.extend_from_slice(&0i64.to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(&bytes);
        assert_eq!(of_node(&node), i64::from(crc.sum()));
        // Nodes digested in one piece and in three agree with the CRC of the bytes run together.
        for size in [100, 2000] {
            let data = vec![7u8; size];
            let node = Node::new("/big", Some(&data), acl.clone(), 0, 5, 1000);
            let mut bytes = b"/big".to_vec();
            bytes.extend_from_slice(&data);
            for long in [5i64, 5, 5, 1000, 1000] {
                bytes.extend_from_slice(&long.to_be_bytes());
            }
            bytes.extend_from_slice(&[0u8; 20]);
            let mut crc = flate2::Crc::new();
            crc.update(&bytes);
            assert_eq!(of_node(&node), i64::from(crc.sum()), "{size} bytes of data");
        }
        // The root is digested under the path "", and `/zookeeper/` nodes count nothing.
        let root = Node::new("/", None, acl.clone(), 0, 0, 0);
        let mut crc = flate2::Crc::new();
        crc.update(&[0u8; 60]);
        assert_eq!(of_node(&root), i64::from(crc.sum()));
        assert_eq!(
            of_node(&Node::new("/zookeeper/quota", None, acl, 0, 0, 0)),
            0
        );
    }

    #[test]
    fn the_log_keeps_every_128th_zxid_and_the_newest_1024() {
        let mut log = DigestLog::default();
        for zxid in 1..=(1025 * 128 + 5) {
            log.note(zxid, zxid * 3);
        }
        let records: Vec<_> = log.records().collect();
        assert_eq!(records.len(), 1024);
        assert_eq!(records[0].zxid, 2 * 128);
        assert_eq!(
            records[1023],
            ZxidDigest {
                zxid: 1025 * 128,
                digest: 1025 * 128 * 3
            }
        );
        log.note(1026 * 128, 1);
        log.note(1026 * 128, 2);
        assert_eq!(
            log.records().last(),
            Some(ZxidDigest {
                zxid: 1026 * 128,
                digest: 2
            })
        );
        assert_eq!(log.records().count(), 1024);
    }
}
