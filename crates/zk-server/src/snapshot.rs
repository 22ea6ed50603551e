//! Snapshots of the data tree: when to take them and their byte format.
//!
//! A snapshot of the live database is fuzzy, as ZooKeeper's are: it is written on a blocking
//! thread 256 nodes at a time in the tree's slot order, each batch read under the tree's lock,
//! while writes keep committing in between. It is named after the zxid committed when it started, and
//! restoring it replays every later transaction, which converges because applying a
//! transaction twice is harmless. zk-txnlog adds the header, the checksum and the atomic
//! rename; this module only streams the tree.

use std::collections::HashMap;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{BufMut, BytesMut};
use zk_proto::jute::Encode;
use zk_proto::{Acl, Id};

use crate::db::Database;
use crate::server::Shared;
use crate::tree::{DataTree, Node, SharedAcl, TreeBuilder, WalkCursor};

const MAGIC: &[u8; 8] = b"ZKRSTREE";
/// Version 1 listed the ACLs and counted the nodes up front (an exact snapshot); version 2
/// tags records, so that a fuzzy walk can introduce each ACL list when it first meets it, and
/// gives the node count at the start as a hint for the reader.
const VERSION: u32 = 2;
const RECORD_END: u8 = 0;
const RECORD_ACL: u8 = 1;
const RECORD_NODE: u8 = 2;
/// Nodes read per hold of the tree's lock.
const NODES_PER_READ: usize = 256;

/// Decides when to snapshot: after a random count between half and all of `snapCount`
/// transactions, so that the members of an ensemble do not all snapshot at once.
#[derive(Debug)]
pub struct Trigger {
    snap_count: u64,
    since_last: u64,
    next_at: u64,
}

impl Trigger {
    pub fn new(snap_count: u64) -> Self {
        let snap_count = snap_count.max(2);
        Trigger {
            snap_count,
            since_last: 0,
            next_at: Self::roll(snap_count),
        }
    }

    fn roll(snap_count: u64) -> u64 {
        snap_count / 2 + rand::random_range(0..=snap_count / 2)
    }

    /// Counts `count` transactions; true when a snapshot is due.
    pub fn count_and_check(&mut self, count: u64) -> bool {
        self.since_last += count;
        if self.since_last >= self.next_at {
            self.since_last = 0;
            self.next_at = Self::roll(self.snap_count);
            return true;
        }
        false
    }
}

static SNAPSHOT_RUNNING: AtomicBool = AtomicBool::new(false);

/// Writes a snapshot of the database on a blocking thread, unless one is already being written.
pub fn spawn_snapshot(shared: Arc<Shared>) {
    if SNAPSHOT_RUNNING.swap(true, Ordering::AcqRel) {
        return;
    }
    tokio::task::spawn_blocking(move || {
        let zxid = shared.db.last_zxid();
        let started = std::time::Instant::now();
        match shared
            .storage
            .snapshots
            .write(zxid, |out| write_database(&shared.db, out).map(drop))
        {
            Ok(path) => {
                shared.stats.snapshot_time.record_since(started);
                tracing::info!(
                    zxid = format_args!("0x{zxid:x}"),
                    file = %path.display(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "snapshot written"
                );
            }
            Err(error) => tracing::error!(%error, "snapshot failed"),
        }
        SNAPSHOT_RUNNING.store(false, Ordering::Release);
    });
}

/// Streams a tree nobody else changes (an exact snapshot); returns its zxid.
pub fn write_tree(tree: &DataTree, out: &mut dyn Write) -> io::Result<i64> {
    write_with(|read| read(tree), out, usize::MAX)
}

/// Streams the live database (a fuzzy snapshot); returns the zxid it starts from.
pub fn write_database(db: &Database, out: &mut dyn Write) -> io::Result<i64> {
    write_with(|read| read(&db.tree()), out, NODES_PER_READ)
}

/// Streams a tree: header, sessions, then nodes in slot order, each ACL list before the first
/// node that uses it. `with_tree` lends the tree for one batch of reads at a time.
fn write_with(
    mut with_tree: impl FnMut(&mut dyn FnMut(&DataTree)),
    out: &mut dyn Write,
    nodes_per_read: usize,
) -> io::Result<i64> {
    let mut out = BufWriter::with_capacity(1 << 16, out);
    let mut buf = BytesMut::with_capacity(1 << 17);
    let mut zxid = 0;
    with_tree(&mut |tree| {
        zxid = tree.last_zxid();
        buf.put_slice(MAGIC);
        buf.put_u32(VERSION);
        buf.put_i64(zxid);
        let sessions: Vec<(i64, i32)> = tree.sessions().collect();
        buf.put_u64(sessions.len() as u64);
        for (id, timeout) in sessions {
            buf.put_i64(id);
            buf.put_i32(timeout);
        }
        buf.put_u64(tree.node_count() as u64);
    });
    let mut acl_index: HashMap<*const Vec<Acl>, u32> = HashMap::new();
    // Holds each list written, so that its address cannot be reused by another list meanwhile.
    let mut acl_lists: Vec<SharedAcl> = Vec::new();
    let mut last_acl: Option<(*const Vec<Acl>, u32)> = None;
    let mut cursor = WalkCursor::default();
    let mut more = true;
    while more {
        with_tree(&mut |tree| {
            more = tree.walk_some(&mut cursor, nodes_per_read, |node| {
                let key = Arc::as_ptr(&node.acl);
                // Most nodes share their neighbour's list: skip the hash for those.
                let index = match last_acl {
                    Some((last, index)) if std::ptr::eq(last, key) => index,
                    _ => *acl_index.entry(key).or_insert_with(|| {
                        buf.put_u8(RECORD_ACL);
                        put_acl_list(&mut buf, &node.acl);
                        acl_lists.push(node.acl.clone());
                        acl_lists.len() as u32 - 1
                    }),
                };
                last_acl = Some((key, index));
                buf.put_u8(RECORD_NODE);
                put_node(&mut buf, node, index);
            });
        });
        out.write_all(&buf)?;
        buf.clear();
    }
    buf.put_u8(RECORD_END);
    out.write_all(&buf)?;
    out.flush()?;
    Ok(zxid)
}

fn put_acl_list(buf: &mut BytesMut, list: &[Acl]) {
    buf.put_u32(list.len() as u32);
    for acl in list {
        acl.encode(buf);
    }
}

fn put_node(buf: &mut BytesMut, node: &Node, acl_index: u32) {
    put_bytes(buf, node.path_bytes());
    match node.data() {
        Some(data) => {
            buf.put_i32(data.len() as i32);
            buf.put_slice(data);
        }
        None => buf.put_i32(-1),
    }
    buf.put_u32(acl_index);
    buf.put_i64(node.czxid);
    buf.put_i64(node.mzxid);
    buf.put_i64(node.ctime);
    buf.put_i64(node.mtime);
    buf.put_i32(node.version);
    buf.put_i32(node.cversion);
    buf.put_i32(node.aversion);
    buf.put_i64(node.owner());
    buf.put_i64(node.pzxid);
}

fn put_bytes(buf: &mut BytesMut, bytes: &[u8]) {
    buf.put_u32(bytes.len() as u32);
    buf.put_slice(bytes);
}

/// Reads a tree written by [`write_tree`] (either version). Every length is checked against
/// what is left.
pub fn read_tree(input: impl Read) -> Result<DataTree, String> {
    let mut input = BufReader::with_capacity(1 << 16, input);
    let mut magic = [0u8; 8];
    read_exact(&mut input, &mut magic)?;
    if &magic != MAGIC {
        return Err("not a tree snapshot (bad magic)".into());
    }
    let version = read_u32(&mut input)?;
    if version != 1 && version != VERSION {
        return Err(format!("unsupported snapshot version {version}"));
    }
    let last_zxid = read_i64(&mut input)?;
    let session_count = read_u64(&mut input)?;
    let mut sessions = std::collections::HashMap::new();
    for _ in 0..session_count {
        sessions.insert(read_i64(&mut input)?, read_i32(&mut input)?);
    }
    let mut acl_lists: Vec<SharedAcl> = Vec::new();
    let mut scratch = NodeScratch::default();
    let builder = if version == 1 {
        for _ in 0..read_u32(&mut input)? {
            acl_lists.push(read_acl_list(&mut input)?);
        }
        let count = read_u64(&mut input)?;
        let mut builder = TreeBuilder::new(last_zxid, sessions, capacity_hint(count));
        for _ in 0..count {
            builder.add(read_node(&mut input, &acl_lists, &mut scratch)?)?;
        }
        builder
    } else {
        let count = read_u64(&mut input)?;
        let mut builder = TreeBuilder::new(last_zxid, sessions, capacity_hint(count));
        loop {
            match read_u8(&mut input)? {
                RECORD_END => break,
                RECORD_ACL => acl_lists.push(read_acl_list(&mut input)?),
                RECORD_NODE => builder.add(read_node(&mut input, &acl_lists, &mut scratch)?)?,
                other => return Err(format!("unknown snapshot record type {other}")),
            }
        }
        builder
    };
    let (mut tree, dropped) = builder.finish()?;
    tree.recount_quotas();
    if dropped > 0 {
        // Deleted while a fuzzy snapshot was taken, after it had passed them but before it
        // reached their parent; the log deletes them again.
        tracing::info!(
            dropped,
            "snapshot nodes whose parent it does not hold were left out"
        );
    }
    Ok(tree)
}

/// What to reserve for `count` nodes: a corrupt count must not reserve more than a file can hold.
fn capacity_hint(count: u64) -> usize {
    usize::try_from(count).unwrap_or(0).min(1 << 22)
}

fn read_acl_list(input: &mut impl Read) -> Result<SharedAcl, String> {
    let entries = read_u32(input)?;
    let mut list = Vec::new();
    for _ in 0..entries {
        list.push(read_acl(input)?);
    }
    Ok(crate::tree::intern_acl(&list))
}

/// Buffers reused for each node read: a node's path and data go into one allocation.
#[derive(Default)]
struct NodeScratch {
    path: Vec<u8>,
    data: Vec<u8>,
}

fn read_node(
    input: &mut impl Read,
    acl_lists: &[SharedAcl],
    scratch: &mut NodeScratch,
) -> Result<Node, String> {
    let path_len = read_u32(input)? as usize;
    read_into(input, &mut scratch.path, path_len)?;
    let path =
        std::str::from_utf8(&scratch.path).map_err(|_| "snapshot path is not UTF-8".to_string())?;
    let data = match read_i32(input)? {
        -1 => None,
        len if len >= 0 => {
            read_into(input, &mut scratch.data, len as usize)?;
            Some(&scratch.data[..])
        }
        len => return Err(format!("bad data length {len} for {path}")),
    };
    let acl_at = read_u32(input)? as usize;
    let acl = acl_lists
        .get(acl_at)
        .cloned()
        .ok_or_else(|| format!("bad ACL index {acl_at} for {path}"))?;
    let czxid = read_i64(input)?;
    let mzxid = read_i64(input)?;
    let ctime = read_i64(input)?;
    let mtime = read_i64(input)?;
    let version = read_i32(input)?;
    let cversion = read_i32(input)?;
    let aversion = read_i32(input)?;
    let owner = read_i64(input)?;
    let pzxid = read_i64(input)?;
    let mut node = Node::new(path, data, acl, owner, czxid, ctime);
    node.mzxid = mzxid;
    node.mtime = mtime;
    node.version = version;
    node.cversion = cversion;
    node.aversion = aversion;
    node.pzxid = pzxid;
    Ok(node)
}

fn read_u8(input: &mut impl Read) -> Result<u8, String> {
    let mut b = [0u8; 1];
    read_exact(input, &mut b)?;
    Ok(b[0])
}

fn read_exact(input: &mut impl Read, buf: &mut [u8]) -> Result<(), String> {
    input
        .read_exact(buf)
        .map_err(|e| format!("snapshot ends early: {e}"))
}

/// Reads `len` bytes into `out` (replacing what it held), growing it 1 MiB at a time so that
/// a corrupt length cannot reserve more than the input holds.
fn read_into(input: &mut impl Read, out: &mut Vec<u8>, len: usize) -> Result<(), String> {
    const STEP: usize = 1 << 20;
    out.clear();
    while out.len() < len {
        let start = out.len();
        let end = (start + STEP).min(len);
        out.resize(end, 0);
        read_exact(input, &mut out[start..end])?;
    }
    Ok(())
}

fn read_u32(input: &mut impl Read) -> Result<u32, String> {
    let mut b = [0u8; 4];
    read_exact(input, &mut b)?;
    Ok(u32::from_be_bytes(b))
}

fn read_i32(input: &mut impl Read) -> Result<i32, String> {
    let mut b = [0u8; 4];
    read_exact(input, &mut b)?;
    Ok(i32::from_be_bytes(b))
}

fn read_u64(input: &mut impl Read) -> Result<u64, String> {
    let mut b = [0u8; 8];
    read_exact(input, &mut b)?;
    Ok(u64::from_be_bytes(b))
}

fn read_i64(input: &mut impl Read) -> Result<i64, String> {
    let mut b = [0u8; 8];
    read_exact(input, &mut b)?;
    Ok(i64::from_be_bytes(b))
}

/// An ACL entry as jute encodes it: perms, scheme, id.
fn read_acl(input: &mut impl Read) -> Result<Acl, String> {
    Ok(Acl {
        perms: read_i32(input)?,
        id: Id {
            scheme: read_opt_string(input)?,
            id: read_opt_string(input)?,
        },
    })
}

fn read_opt_string(input: &mut impl Read) -> Result<Option<String>, String> {
    let len = read_i32(input)?;
    if len < 0 {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    read_into(input, &mut bytes, len as usize)?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| "ACL string is not UTF-8".to_string())
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::acl::open_acl_unsafe;
    use crate::txn::{Txn, TxnHeader};

    fn create(path: &str) -> Txn {
        Txn::Create {
            path: path.into(),
            data: Some(Bytes::from_static(b"v")),
            acl: crate::tree::intern_acl(&open_acl_unsafe()),
            owner: 0,
            parent_cversion: 0,
        }
    }

    /// Applies a transaction of session 1 at `zxid` and logs it.
    fn apply_logged(tree: &mut DataTree, zxid: i64, txn: Txn, log: &mut Vec<(TxnHeader, Txn)>) {
        let header = TxnHeader {
            session_id: 1,
            cxid: 0,
            zxid,
            time: zxid,
        };
        tree.apply(&header, &txn);
        log.push((header, txn));
    }

    /// A snapshot written while the tree changes between its reads, restored and followed by
    /// every transaction since it started, gives the tree as it ended.
    #[test]
    fn a_fuzzy_snapshot_plus_the_later_log_restores_the_tree() {
        let mut tree = DataTree::new();
        let mut zxid = 0;
        let mut log: Vec<(TxnHeader, Txn)> = Vec::new();
        let mut run = |tree: &mut DataTree, txn: Txn, log: &mut Vec<(TxnHeader, Txn)>| {
            zxid += 1;
            apply_logged(tree, zxid, txn, log);
        };
        for i in 0..50 {
            run(&mut tree, create(&format!("/n{i:02}")), &mut log);
            run(&mut tree, create(&format!("/n{i:02}/c")), &mut log);
        }
        let start = tree.last_zxid();
        log.clear();
        // Each read of the writer (header, then batches of nodes) comes after some changes:
        // nodes deleted and created on both sides of the walk, data changed.
        let mut round = 0;
        let mut bytes = Vec::new();
        let lend = |read: &mut dyn FnMut(&DataTree)| {
            if round > 0 {
                let a = format!("/n{:02}", (round * 7) % 50);
                let b = format!("/n{:02}", (round * 13 + 5) % 50);
                run(
                    &mut tree,
                    Txn::Delete {
                        path: format!("{a}/c"),
                    },
                    &mut log,
                );
                run(&mut tree, Txn::Delete { path: a.clone() }, &mut log);
                run(&mut tree, create(&a), &mut log);
                run(&mut tree, create(&format!("/m{round}")), &mut log);
                let set = Txn::SetData {
                    path: b,
                    data: Some(Bytes::from(vec![round as u8])),
                    version: round,
                };
                run(&mut tree, set, &mut log);
            }
            round += 1;
            read(&tree);
        };
        assert_eq!(write_with(lend, &mut bytes, 7).unwrap(), start);
        assert!(round > 10, "the walk took {round} reads");
        let mut restored = read_tree(bytes.as_slice()).unwrap();
        assert_eq!(restored.last_zxid(), start);
        for (header, txn) in &log {
            restored.apply(header, txn);
        }
        let ours: Vec<_> = restored.walk().map(|(p, n)| (p, n.clone())).collect();
        let expected: Vec<_> = tree.walk().map(|(p, n)| (p, n.clone())).collect();
        assert_eq!(ours, expected);
        assert_eq!(restored.node_count(), tree.node_count());
    }

    /// Random churn between the reads of a fuzzy snapshot, with slots freed and reused so that
    /// children sit before their parents and some are walked before their parent is deleted:
    /// restoring plus replaying always gives the tree as it ended.
    #[test]
    fn fuzzy_snapshots_survive_random_churn() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        for seed in 0..200u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut tree = DataTree::new();
            let mut zxid = 0;
            let mut log: Vec<(TxnHeader, Txn)> = Vec::new();
            let mut paths: Vec<String> = vec!["/".into()];
            let mut step = |tree: &mut DataTree, rng: &mut StdRng, log: &mut Vec<_>| {
                let pick = paths[rng.random_range(0..paths.len())].clone();
                let txn = match rng.random_range(0..3) {
                    0 if pick != "/" && tree.child_names(&pick).is_empty() => {
                        paths.retain(|p| *p != pick);
                        Txn::Delete { path: pick }
                    }
                    1 => Txn::SetData {
                        path: pick,
                        data: Some(Bytes::from(vec![rng.random::<u8>()])),
                        version: 1,
                    },
                    _ => {
                        let name = rng.random_range(0..1000);
                        let path = crate::path::join(&pick, &format!("n{name}"));
                        if tree.get(&path).is_some() {
                            return;
                        }
                        paths.push(path.clone());
                        create(&path)
                    }
                };
                zxid += 1;
                apply_logged(tree, zxid, txn, log);
            };
            for _ in 0..60 {
                step(&mut tree, &mut rng, &mut log);
            }
            log.clear();
            let start = tree.last_zxid();
            let per_read = rng.random_range(1..8);
            let mut bytes = Vec::new();
            let mut first = true;
            let lend = |read: &mut dyn FnMut(&DataTree)| {
                if !std::mem::take(&mut first) {
                    for _ in 0..rng.random_range(0..6) {
                        step(&mut tree, &mut rng, &mut log);
                    }
                }
                read(&tree);
            };
            assert_eq!(write_with(lend, &mut bytes, per_read).unwrap(), start);
            let mut restored = read_tree(bytes.as_slice()).unwrap();
            for (header, txn) in &log {
                restored.apply(header, txn);
            }
            let ours: Vec<_> = restored.walk().map(|(_, n)| n.clone()).collect();
            let expected: Vec<_> = tree.walk().map(|(_, n)| n.clone()).collect();
            assert_eq!(ours, expected, "seed {seed}");
            assert_eq!(restored.node_count(), tree.node_count(), "seed {seed}");
            let digest = crate::digest::recomputed(&tree);
            assert_eq!(
                tree.digest(),
                digest,
                "seed {seed}: kept as the tree changed"
            );
            assert_eq!(
                restored.digest(),
                digest,
                "seed {seed}: restored and replayed"
            );
        }
    }

    #[test]
    fn version_1_snapshots_still_load() {
        let mut buf = BytesMut::new();
        buf.put_slice(MAGIC);
        buf.put_u32(1);
        buf.put_i64(9);
        buf.put_u64(1);
        buf.put_i64(77);
        buf.put_i32(30_000);
        buf.put_u32(1);
        put_acl_list(&mut buf, &open_acl_unsafe());
        buf.put_u64(2);
        let root = Node::new(
            "/",
            Some(b""),
            crate::tree::intern_acl(&open_acl_unsafe()),
            0,
            0,
            0,
        );
        put_node(&mut buf, &root, 0);
        let child = Node::new("/a", Some(b"x"), root.acl.clone(), 0, 9, 5);
        put_node(&mut buf, &child, 0);
        let tree = read_tree(&buf[..]).unwrap();
        assert_eq!(tree.last_zxid(), 9);
        assert_eq!(tree.session_timeout(77), Some(30_000));
        assert_eq!(tree.get("/a").unwrap().data(), Some(&b"x"[..]));
        assert_eq!(tree.get("/").unwrap().num_children, 1);
    }
}
