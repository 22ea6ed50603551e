//! Snapshots of the data tree: when to take them and their byte format.
//!
//! A snapshot is taken from a committed tree version (an O(1) clone), so it is exact, not fuzzy,
//! and is written on a blocking thread while requests keep flowing. zk-txnlog adds the header,
//! the checksum and the atomic rename; this module only streams the tree.

use std::collections::HashMap;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{BufMut, Bytes, BytesMut};
use zk_proto::jute::Encode;
use zk_proto::{Acl, Id};

use crate::server::Shared;
use crate::tree::{DataTree, Node};

const MAGIC: &[u8; 8] = b"ZKRSTREE";
const VERSION: u32 = 1;

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

/// Writes a snapshot of `tree` on a blocking thread, unless one is already being written.
pub fn spawn_snapshot(shared: Arc<Shared>, tree: Arc<DataTree>) {
    if SNAPSHOT_RUNNING.swap(true, Ordering::AcqRel) {
        return;
    }
    tokio::task::spawn_blocking(move || {
        let zxid = tree.last_zxid();
        let started = std::time::Instant::now();
        match shared
            .storage
            .snapshots
            .write(zxid, |out| write_tree(&tree, out))
        {
            Ok(path) => tracing::info!(
                zxid = format_args!("0x{zxid:x}"),
                file = %path.display(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "snapshot written"
            ),
            Err(error) => tracing::error!(%error, "snapshot failed"),
        }
        SNAPSHOT_RUNNING.store(false, Ordering::Release);
    });
}

/// Streams a tree: header, sessions, the shared ACL lists, then every node parents first.
pub fn write_tree(tree: &DataTree, out: &mut dyn Write) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 16, out);
    let mut buf = BytesMut::with_capacity(1 << 12);
    buf.put_slice(MAGIC);
    buf.put_u32(VERSION);
    buf.put_i64(tree.last_zxid());
    let sessions: Vec<(i64, i32)> = tree.sessions().collect();
    buf.put_u64(sessions.len() as u64);
    for (id, timeout) in sessions {
        buf.put_i64(id);
        buf.put_i32(timeout);
    }
    let mut acl_index: HashMap<*const [Acl], u32> = HashMap::new();
    let mut acl_lists: Vec<&[Acl]> = Vec::new();
    for (_, node) in tree.walk() {
        let key = Arc::as_ptr(&node.acl);
        if let std::collections::hash_map::Entry::Vacant(slot) = acl_index.entry(key) {
            slot.insert(acl_lists.len() as u32);
            acl_lists.push(&node.acl);
        }
    }
    buf.put_u32(acl_lists.len() as u32);
    for list in &acl_lists {
        buf.put_u32(list.len() as u32);
        for acl in *list {
            acl.encode(&mut buf);
        }
    }
    buf.put_u64(tree.node_count() as u64);
    for (path, node) in tree.walk() {
        put_bytes(&mut buf, path.as_bytes());
        match &node.data {
            Some(data) => {
                buf.put_i32(data.len() as i32);
                buf.put_slice(data);
            }
            None => buf.put_i32(-1),
        }
        buf.put_u32(acl_index.get(&Arc::as_ptr(&node.acl)).copied().unwrap_or(0));
        buf.put_i64(node.czxid);
        buf.put_i64(node.mzxid);
        buf.put_i64(node.ctime);
        buf.put_i64(node.mtime);
        buf.put_i32(node.version);
        buf.put_i32(node.cversion);
        buf.put_i32(node.aversion);
        buf.put_i64(node.owner);
        buf.put_i64(node.pzxid);
        if buf.len() >= 1 << 16 {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)?;
    out.flush()
}

fn put_bytes(buf: &mut BytesMut, bytes: &[u8]) {
    buf.put_u32(bytes.len() as u32);
    buf.put_slice(bytes);
}

/// Reads a tree written by [`write_tree`]. Every length is checked against what is left.
pub fn read_tree(input: impl Read) -> Result<DataTree, String> {
    let mut input = BufReader::with_capacity(1 << 16, input);
    let mut magic = [0u8; 8];
    read_exact(&mut input, &mut magic)?;
    if &magic != MAGIC {
        return Err("not a tree snapshot (bad magic)".into());
    }
    let version = read_u32(&mut input)?;
    if version != VERSION {
        return Err(format!("unsupported snapshot version {version}"));
    }
    let last_zxid = read_i64(&mut input)?;
    let session_count = read_u64(&mut input)?;
    let mut sessions = Vec::new();
    for _ in 0..session_count {
        sessions.push((read_i64(&mut input)?, read_i32(&mut input)?));
    }
    let acl_count = read_u32(&mut input)?;
    let mut acl_lists: Vec<Arc<[Acl]>> = Vec::new();
    for _ in 0..acl_count {
        let entries = read_u32(&mut input)?;
        let mut list = Vec::new();
        for _ in 0..entries {
            list.push(read_acl(&mut input)?);
        }
        acl_lists.push(crate::tree::intern_acl(&list));
    }
    let node_count = read_u64(&mut input)?;
    let mut nodes = Vec::new();
    for _ in 0..node_count {
        let path_len = read_u32(&mut input)? as usize;
        let path = String::from_utf8(read_vec(&mut input, path_len)?)
            .map_err(|_| "snapshot path is not UTF-8".to_string())?;
        let data_len = read_i32(&mut input)?;
        let data = match data_len {
            -1 => None,
            len if len >= 0 => Some(Bytes::from(read_vec(&mut input, len as usize)?)),
            len => return Err(format!("bad data length {len} for {path}")),
        };
        let acl_at = read_u32(&mut input)? as usize;
        let acl = acl_lists
            .get(acl_at)
            .cloned()
            .ok_or_else(|| format!("bad ACL index {acl_at} for {path}"))?;
        let node = Node {
            data,
            acl,
            czxid: read_i64(&mut input)?,
            mzxid: read_i64(&mut input)?,
            ctime: read_i64(&mut input)?,
            mtime: read_i64(&mut input)?,
            version: read_i32(&mut input)?,
            cversion: read_i32(&mut input)?,
            aversion: read_i32(&mut input)?,
            owner: read_i64(&mut input)?,
            pzxid: read_i64(&mut input)?,
            children: Default::default(),
        };
        nodes.push((path, node));
    }
    DataTree::from_parts(last_zxid, sessions, nodes)
}

fn read_exact(input: &mut impl Read, buf: &mut [u8]) -> Result<(), String> {
    input
        .read_exact(buf)
        .map_err(|e| format!("snapshot ends early: {e}"))
}

/// Reads exactly `len` bytes. Allocates in steps of at most 1 MiB, so that a corrupt length
/// cannot make us reserve more than the file holds.
fn read_vec(input: &mut impl Read, len: usize) -> Result<Vec<u8>, String> {
    const STEP: usize = 1 << 20;
    let mut out = Vec::with_capacity(len.min(STEP));
    while out.len() < len {
        let start = out.len();
        let end = (start + STEP).min(len);
        out.resize(end, 0);
        read_exact(input, &mut out[start..end])?;
    }
    Ok(out)
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
    let bytes = read_vec(input, len as usize)?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| "ACL string is not UTF-8".to_string())
}
