//! Apache ZooKeeper's own data files: read so that a ZooKeeper deployment can move to this
//! server with its data (see [`crate::import`]), and a snapshot written so that it can move
//! back (see [`crate::export`]). Pure functions over bytes.
//!
//! ```text
//! snapshot.<zxid>[.gz|.snappy]
//!                   FileHeader { int magic "ZKSN", int version 2, long dbid }
//!                   int sessions, { long id, int timeout }*
//!                   int acl lists, { long key, vector<ACL> }*
//!                   { ustring path, buffer data, long acl key, StatPersisted }* in pre-order,
//!                   the root's path "", ended by the path "/"
//!                   long Adler-32 of every byte before it, ustring "/"  (then an optional digest)
//! log.<zxid>        FileHeader { int magic "ZKLG", int version 2, long dbid }
//!                   { long Adler-32 of the entry, buffer entry, byte 'B' }*, then zeros
//!                   entry = TxnHeader { long session, int cxid, long zxid, long time, int type },
//!                           the type's txn record, an optional TxnDigest
//! ```
//!
//! ZooKeeper's transactions record resulting state, as ours do, so each maps onto a [`Txn`].
//! StatPersisted's cversion counts child creations, which is what [`Node::cversion`] holds.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use zk_proto::jute::{Decode, Encode, Reader, put_buffer, put_i32, put_i64, put_ustring, put_vec};
use zk_proto::{Acl, DecodeError};

use crate::digest::DIGEST_VERSION;
pub use crate::digest::ZxidDigest;
use crate::tree::{
    CONFIG_PATH, CONTAINER_OWNER, DataTree, Node, NodeKind, SharedAcl, TreeBuilder, config_node,
    intern_acl,
};
use crate::txn::{Txn, TxnHeader};

pub(crate) const SNAPSHOT_MAGIC: i32 = i32::from_be_bytes(*b"ZKSN");
pub(crate) const LOG_MAGIC: i32 = i32::from_be_bytes(*b"ZKLG");
const FORMAT_VERSION: i32 = 2;
/// The ACL key ZooKeeper keeps out of its cache for `world:anyone` with every permission.
pub(crate) const OPEN_ACL_KEY: i64 = -1;
/// The byte after every log entry.
pub(crate) const END_OF_RECORD: u8 = b'B';

/// ZooKeeper's transaction types (`ZooDefs.OpCode`) as its log holds them.
pub(crate) mod op {
    pub const CREATE: i32 = 1;
    pub const DELETE: i32 = 2;
    pub const SET_DATA: i32 = 5;
    pub const SET_ACL: i32 = 7;
    pub const CHECK: i32 = 13;
    pub const MULTI: i32 = 14;
    pub const CREATE2: i32 = 15;
    pub const RECONFIG: i32 = 16;
    pub const CREATE_CONTAINER: i32 = 19;
    pub const DELETE_CONTAINER: i32 = 20;
    pub const CREATE_TTL: i32 = 21;
    pub const CREATE_SESSION: i32 = -10;
    pub const CLOSE_SESSION: i32 = -11;
    pub const ERROR: i32 = -1;
}

/// How a ZooKeeper snapshot file is compressed, from its name's suffix
/// (`zookeeper.snapshot.compression.method`, ZooKeeper 3.6+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    /// snappy-java's stream format: a magic header and versions, then length-prefixed blocks.
    Snappy,
}

impl Compression {
    /// The compression a snapshot file name's suffix says, and the name without it.
    pub fn of(name: &str) -> (Compression, &str) {
        if let Some(base) = name.strip_suffix(".gz") {
            (Compression::Gzip, base)
        } else if let Some(base) = name.strip_suffix(".snappy") {
            (Compression::Snappy, base)
        } else {
            (Compression::None, name)
        }
    }
}

/// snappy-java's stream header: magic, then version 1 and compatible version 1.
const SNAPPY_MAGIC: &[u8; 8] = b"\x82SNAPPY\0";

/// A snapshot file's bytes as ZooKeeper's serializer wrote them, before compression.
pub fn uncompressed(compression: Compression, file: Bytes) -> Result<Bytes, String> {
    match compression {
        Compression::None => Ok(file),
        Compression::Gzip => {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&file[..]), &mut out)
                .map_err(|e| format!("not a readable gzip stream: {e}"))?;
            Ok(Bytes::from(out))
        }
        Compression::Snappy => {
            let rest = file
                .strip_prefix(&SNAPPY_MAGIC[..])
                .ok_or("not a snappy-java stream (bad magic)")?;
            let mut rest = rest
                .get(8..)
                .ok_or("a snappy-java stream without its versions")?;
            let mut out = Vec::new();
            let mut decoder = snap::raw::Decoder::new();
            while !rest.is_empty() {
                let (len, after) = rest
                    .split_first_chunk::<4>()
                    .ok_or("a snappy block cut short")?;
                let len = usize::try_from(u32::from_be_bytes(*len)).unwrap_or(usize::MAX);
                let block = after.get(..len).ok_or("a snappy block cut short")?;
                out.extend(
                    decoder
                        .decompress_vec(block)
                        .map_err(|e| format!("a damaged snappy block: {e}"))?,
                );
                rest = &after[len..];
            }
            Ok(Bytes::from(out))
        }
    }
}

/// Builds the tree a ZooKeeper snapshot holds, as of `zxid` (the zxid in its file name). The
/// node `/zookeeper/config` is left out and made afresh: this server publishes its own
/// configuration there.
/// Also returns the tree digest sealed after it, if there is one.
pub fn read_snapshot(bytes: Bytes, zxid: i64) -> Result<(DataTree, Option<ZxidDigest>), String> {
    let whole = bytes.clone();
    let mut r = Reader::with_max_len(bytes, usize::MAX);
    read_file_header(&mut r, SNAPSHOT_MAGIC, "snapshot")?;
    let session_count = count(r.read_i32().map_err(ended)?)?;
    // A session takes 12 bytes: a damaged count cannot reserve more than the file holds.
    let mut sessions = HashMap::with_capacity(session_count.min(r.remaining() / 12));
    for _ in 0..session_count {
        let id = r.read_i64().map_err(ended)?;
        sessions.insert(id, r.read_i32().map_err(ended)?);
    }
    let mut acl_lists = HashMap::new();
    for _ in 0..count(r.read_i32().map_err(ended)?)? {
        let key = r.read_i64().map_err(ended)?;
        acl_lists.insert(key, intern_acl(&read_acl(&mut r)?));
    }
    let open = intern_acl(&Acl::open_unsafe());
    let mut builder = TreeBuilder::new(zxid, sessions, 1024);
    loop {
        let path = r.read_ustring().map_err(ended)?.unwrap_or_default();
        if path == "/" {
            break;
        }
        let path = if path.is_empty() {
            "/".to_string()
        } else {
            path
        };
        let data = r.read_buffer().map_err(ended)?;
        let acl = match r.read_i64().map_err(ended)? {
            OPEN_ACL_KEY => open.clone(),
            key => acl_lists
                .get(&key)
                .cloned()
                .ok_or_else(|| format!("{path} names ACL list {key}, which the snapshot lacks"))?,
        };
        let czxid = r.read_i64().map_err(ended)?;
        let mut node = Node::new(&path, data.as_deref(), acl, 0, czxid, 0);
        node.mzxid = r.read_i64().map_err(ended)?;
        node.ctime = r.read_i64().map_err(ended)?;
        node.mtime = r.read_i64().map_err(ended)?;
        node.version = r.read_i32().map_err(ended)?;
        node.cversion = r.read_i32().map_err(ended)?;
        node.aversion = r.read_i32().map_err(ended)?;
        node.set_owner(r.read_i64().map_err(ended)?);
        node.pzxid = r.read_i64().map_err(ended)?;
        if path != CONFIG_PATH {
            builder.add(node)?;
        }
    }
    let sealed_at = whole.len() - r.remaining();
    let seal = r.read_i64().map_err(ended)?;
    if seal != i64::from(adler32(&whole[..sealed_at])) {
        return Err("checksum mismatch: the snapshot is damaged".into());
    }
    let _ = r.read_ustring().map_err(ended)?;
    let digest = read_sealed_digest(&whole, &mut r)?;
    builder.add(config_node())?;
    let (mut tree, _) = builder.finish()?;
    tree.recount_quotas();
    Ok((tree, digest))
}

/// The ZxidDigest ZooKeeper 3.6+ writes after a snapshot's seal, with its own seal; `None` for
/// an older snapshot, an empty digest (zxid 0) or another digest scheme.
fn read_sealed_digest(whole: &Bytes, r: &mut Reader) -> Result<Option<ZxidDigest>, String> {
    if r.is_empty() {
        return Ok(None);
    }
    let zxid = r.read_i64().map_err(ended)?;
    let version = r.read_i32().map_err(ended)?;
    if version != DIGEST_VERSION {
        return Ok(None);
    }
    let digest = r.read_i64().map_err(ended)?;
    let sealed_at = whole.len() - r.remaining();
    if r.read_i64().map_err(ended)? != i64::from(adler32(&whole[..sealed_at])) {
        return Err("checksum mismatch after the digest: the snapshot is damaged".into());
    }
    Ok((zxid > 0).then_some(ZxidDigest { zxid, digest }))
}

/// The tree as a ZooKeeper snapshot that ZooKeeper 3.5-3.9 loads: nodes in pre-order (each
/// parent before its children, as ZooKeeper's loader needs), ACL lists keyed as ZooKeeper's ACL
/// cache keys them (`world:anyone` with every permission as -1), sealed with Adler-32, then the
/// tree's digest, which ZooKeeper 3.6+ checks the loaded tree against.
pub fn write_snapshot(tree: &DataTree) -> BytesMut {
    let mut buf = BytesMut::new();
    put_i32(&mut buf, SNAPSHOT_MAGIC);
    put_i32(&mut buf, FORMAT_VERSION);
    put_i64(&mut buf, -1);
    let mut sessions: Vec<(i64, i32)> = tree.sessions().collect();
    sessions.sort_unstable();
    put_i32(&mut buf, jute_len(sessions.len()));
    for (id, timeout) in sessions {
        put_i64(&mut buf, id);
        put_i32(&mut buf, timeout);
    }
    let nodes: Vec<(Arc<str>, &Node)> = tree.walk().collect();
    let open = Acl::open_unsafe();
    let mut keys: HashMap<*const Vec<Acl>, i64> = HashMap::new();
    let mut lists: Vec<&SharedAcl> = Vec::new();
    for (_, node) in &nodes {
        if *node.acl != open && !keys.contains_key(&Arc::as_ptr(&node.acl)) {
            lists.push(&node.acl);
            keys.insert(
                Arc::as_ptr(&node.acl),
                i64::try_from(lists.len()).unwrap_or(i64::MAX),
            );
        }
    }
    put_i32(&mut buf, jute_len(lists.len()));
    for (key, list) in lists.iter().enumerate() {
        put_i64(&mut buf, i64::try_from(key + 1).unwrap_or(i64::MAX));
        put_vec(&mut buf, list, |buf, acl| acl.encode(buf));
    }
    for (path, node) in &nodes {
        put_ustring(&mut buf, Some(if &**path == "/" { "" } else { path }));
        put_buffer(&mut buf, node.data());
        put_i64(
            &mut buf,
            keys.get(&Arc::as_ptr(&node.acl))
                .copied()
                .unwrap_or(OPEN_ACL_KEY),
        );
        put_i64(&mut buf, node.czxid);
        put_i64(&mut buf, node.mzxid);
        put_i64(&mut buf, node.ctime);
        put_i64(&mut buf, node.mtime);
        put_i32(&mut buf, node.version);
        put_i32(&mut buf, node.cversion);
        put_i32(&mut buf, node.aversion);
        put_i64(&mut buf, node.owner());
        put_i64(&mut buf, node.pzxid);
    }
    put_ustring(&mut buf, Some("/"));
    seal(&mut buf);
    // The digest ZooKeeper checks the loaded tree against, sealed in turn.
    put_i64(&mut buf, tree.last_zxid());
    put_i32(&mut buf, DIGEST_VERSION);
    put_i64(&mut buf, tree.digest());
    seal(&mut buf);
    buf
}

/// SnapStream's seal: the Adler-32 of everything before it, then the path "/".
fn seal(buf: &mut BytesMut) {
    let checksum = adler32(buf);
    put_i64(buf, i64::from(checksum));
    put_ustring(buf, Some("/"));
}

fn jute_len(len: usize) -> i32 {
    i32::try_from(len).unwrap_or(i32::MAX)
}

/// The transactions of one ZooKeeper log file in order, and why it ended early if it did (a
/// torn or damaged entry; ZooKeeper stops reading there too).
#[derive(Debug, Default)]
pub struct LogFile {
    pub txns: Vec<(TxnHeader, Txn)>,
    /// The tree digest after the last entry that carried one (ZooKeeper 3.6+ logs one with each).
    pub last_digest: Option<ZxidDigest>,
    pub ended_early: Option<String>,
}

pub fn read_log(bytes: Bytes) -> Result<LogFile, String> {
    let mut r = Reader::with_max_len(bytes, usize::MAX);
    read_file_header(&mut r, LOG_MAGIC, "transaction log")?;
    let mut file = LogFile::default();
    while r.remaining() > 0 {
        match read_entry(&mut r) {
            Ok(None) => break,
            Ok(Some((header, txn, digest))) => {
                if let Some(digest) = digest {
                    file.last_digest = Some(ZxidDigest {
                        zxid: header.zxid,
                        digest,
                    });
                }
                file.txns.push((header, txn));
            }
            Err(why) => {
                file.ended_early = Some(why);
                break;
            }
        }
    }
    Ok(file)
}

/// One log entry and the tree digest after it, if it carries one; `None` at the zeros that
/// follow the last entry (ZooKeeper preallocates).
fn read_entry(r: &mut Reader) -> Result<Option<(TxnHeader, Txn, Option<i64>)>, String> {
    let checksum = r.read_i64().map_err(ended)?;
    let entry = match r.read_buffer().map_err(ended)? {
        None => return Ok(None),
        Some(entry) if entry.is_empty() => return Ok(None),
        Some(entry) => entry,
    };
    if r.read_byte().map_err(ended)? != END_OF_RECORD {
        return Err("an entry without its end mark (a torn write)".into());
    }
    if checksum != i64::from(adler32(&entry)) {
        return Err("an entry whose checksum does not match".into());
    }
    let mut r = Reader::with_max_len(entry, usize::MAX);
    let header = TxnHeader {
        session_id: r.read_i64().map_err(ended)?,
        cxid: r.read_i32().map_err(ended)?,
        zxid: r.read_i64().map_err(ended)?,
        time: r.read_i64().map_err(ended)?,
    };
    let kind = r.read_i32().map_err(ended)?;
    let txn = read_txn(kind, &mut r, header.session_id)
        .map_err(|e| format!("transaction 0x{:x}: {e}", header.zxid))?;
    let digest = match (r.read_i32(), r.read_i64()) {
        (Ok(DIGEST_VERSION), Ok(digest)) => Some(digest),
        _ => None,
    };
    Ok(Some((header, txn, digest)))
}

/// A ZooKeeper txn record of type `kind` as ours; `session` owns an ephemeral it creates.
fn read_txn(kind: i32, r: &mut Reader, session: i64) -> Result<Txn, String> {
    let txn = match kind {
        op::CREATE | op::CREATE2 => {
            let (path, data, acl) = read_create_head(r)?;
            let ephemeral = r.read_bool().map_err(ended)?;
            Txn::Create {
                path,
                data,
                acl,
                owner: if ephemeral { session } else { 0 },
                parent_cversion: r.read_i32().map_err(ended)?,
            }
        }
        op::CREATE_CONTAINER | op::CREATE_TTL => {
            let (path, data, acl) = read_create_head(r)?;
            let parent_cversion = r.read_i32().map_err(ended)?;
            let owner = if kind == op::CREATE_TTL {
                NodeKind::Ttl(r.read_i64().map_err(ended)?).owner()
            } else {
                CONTAINER_OWNER
            };
            Txn::Create {
                path,
                data,
                acl,
                owner,
                parent_cversion,
            }
        }
        op::DELETE | op::DELETE_CONTAINER => Txn::Delete {
            path: read_path(r)?,
        },
        op::SET_DATA => Txn::SetData {
            path: read_path(r)?,
            data: r.read_buffer().map_err(ended)?,
            version: r.read_i32().map_err(ended)?,
        },
        op::SET_ACL => Txn::SetAcl {
            path: read_path(r)?,
            acl: intern_acl(&read_acl(r)?),
            version: r.read_i32().map_err(ended)?,
        },
        op::CHECK => Txn::Check {
            path: read_path(r)?,
            version: r.read_i32().map_err(ended)?,
        },
        op::CREATE_SESSION => Txn::CreateSession {
            timeout: r.read_i32().map_err(ended)?,
        },
        // Before 3.6 a closeSession had no body; the tree knows the session's ephemerals.
        op::CLOSE_SESSION if r.is_empty() => Txn::CloseSession {
            ephemerals: Vec::new(),
        },
        op::CLOSE_SESSION => Txn::CloseSession {
            ephemerals: r
                .read_vec(4, |r| Ok(r.read_ustring()?.unwrap_or_default()))
                .map_err(ended)?,
        },
        op::ERROR => Txn::Error {
            err: r.read_i32().map_err(ended)?,
        },
        // The ensemble's configuration is this server's own; a reconfig only takes its zxid.
        op::RECONFIG => Txn::Error { err: 0 },
        op::MULTI => {
            let parts = r
                .read_vec(8, |r| {
                    let kind = r.read_i32()?;
                    Ok((kind, r.read_buffer()?.unwrap_or_default()))
                })
                .map_err(ended)?;
            let mut txns = Vec::with_capacity(parts.len());
            for (kind, body) in parts {
                let mut r = Reader::with_max_len(body, usize::MAX);
                txns.push(read_txn(kind, &mut r, session)?);
            }
            // ZooKeeper logs a failed multi with the ops before the failing one intact and
            // applies none of them (DataTree.processTxn): here they become errors too.
            if txns.iter().any(|txn| matches!(txn, Txn::Error { .. })) {
                for txn in &mut txns {
                    if !matches!(txn, Txn::Error { .. }) {
                        *txn = Txn::Error { err: 0 };
                    }
                }
            }
            Txn::Multi(txns)
        }
        other => return Err(format!("unsupported transaction type {other}")),
    };
    Ok(txn)
}

fn read_create_head(
    r: &mut Reader,
) -> Result<(String, Option<Bytes>, crate::tree::SharedAcl), String> {
    let path = read_path(r)?;
    let data = r.read_buffer().map_err(ended)?;
    let acl = intern_acl(&read_acl(r)?);
    Ok((path, data, acl))
}

fn read_path(r: &mut Reader) -> Result<String, String> {
    r.read_ustring()
        .map_err(ended)?
        .ok_or_else(|| "a null path".to_string())
}

fn read_acl(r: &mut Reader) -> Result<Vec<Acl>, String> {
    r.read_vec(12, Acl::decode).map_err(ended)
}

fn read_file_header(r: &mut Reader, magic: i32, what: &str) -> Result<(), String> {
    if r.read_i32().map_err(ended)? != magic {
        return Err(format!("not a ZooKeeper {what} (bad magic)"));
    }
    let version = r.read_i32().map_err(ended)?;
    if version != FORMAT_VERSION {
        return Err(format!("unsupported {what} format version {version}"));
    }
    r.read_i64().map_err(ended)?;
    Ok(())
}

fn count(raw: i32) -> Result<usize, String> {
    usize::try_from(raw).map_err(|_| format!("a negative count ({raw})"))
}

fn ended(error: DecodeError) -> String {
    format!("unreadable: {error}")
}

/// Adler-32 (RFC 1950), the checksum ZooKeeper's files use.
pub fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65_521;
    // The largest run whose sums cannot overflow 32 bits before the modulo.
    const RUN: usize = 5_552;
    let (mut a, mut b) = (1u32, 0u32);
    for run in data.chunks(RUN) {
        for &byte in run {
            a += u32::from(byte);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! ZooKeeper-format bytes for tests.

    use super::*;
    use bytes::{BufMut, BytesMut};
    use zk_proto::Id;
    use zk_proto::jute::{put_buffer, put_i32, put_i64, put_ustring};

    pub(crate) fn put_acl(buf: &mut BytesMut, acl: &[Acl]) {
        put_i32(buf, acl.len() as i32);
        for entry in acl {
            put_i32(buf, entry.perms);
            put_ustring(buf, entry.id.scheme.as_deref());
            put_ustring(buf, entry.id.id.as_deref());
        }
    }

    pub(crate) fn header(buf: &mut BytesMut, magic: i32) {
        put_i32(buf, magic);
        put_i32(buf, 2);
        put_i64(buf, 0);
    }

    #[allow(clippy::too_many_arguments)]
    fn put_node(
        buf: &mut BytesMut,
        path: &str,
        data: Option<&[u8]>,
        acl: i64,
        zxids: (i64, i64, i64),
        versions: (i32, i32, i32),
        owner: i64,
    ) {
        put_ustring(buf, Some(path));
        put_buffer(buf, data);
        put_i64(buf, acl);
        put_i64(buf, zxids.0);
        put_i64(buf, zxids.1);
        put_i64(buf, 1000);
        put_i64(buf, 2000);
        put_i32(buf, versions.0);
        put_i32(buf, versions.1);
        put_i32(buf, versions.2);
        put_i64(buf, owner);
        put_i64(buf, zxids.2);
    }

    pub(crate) fn digest_acl() -> Vec<Acl> {
        vec![Acl {
            perms: 31,
            id: Id::new("digest", "u:hash"),
        }]
    }

    pub(crate) fn snapshot_bytes() -> BytesMut {
        let mut buf = BytesMut::new();
        header(&mut buf, SNAPSHOT_MAGIC);
        put_i32(&mut buf, 1);
        put_i64(&mut buf, 0x55);
        put_i32(&mut buf, 4000);
        put_i32(&mut buf, 1);
        put_i64(&mut buf, 1);
        put_acl(&mut buf, &digest_acl());
        put_node(
            &mut buf,
            "",
            Some(b""),
            OPEN_ACL_KEY,
            (0, 0, 7),
            (0, 3, 0),
            0,
        );
        put_node(
            &mut buf,
            "/zookeeper",
            Some(b""),
            OPEN_ACL_KEY,
            (0, 0, 0),
            (0, 0, 0),
            0,
        );
        put_node(
            &mut buf,
            "/zookeeper/config",
            Some(b"server.1=x"),
            OPEN_ACL_KEY,
            (0, 0, 0),
            (-1, 0, -1),
            0,
        );
        put_node(
            &mut buf,
            "/zookeeper/quota",
            Some(b""),
            OPEN_ACL_KEY,
            (0, 0, 0),
            (0, 0, 0),
            0,
        );
        put_node(&mut buf, "/a", Some(b"data"), 1, (2, 5, 6), (4, 1, 2), 0);
        put_node(
            &mut buf,
            "/a/e",
            None,
            OPEN_ACL_KEY,
            (6, 6, 6),
            (0, 0, 0),
            0x55,
        );
        put_node(
            &mut buf,
            "/t",
            Some(b""),
            OPEN_ACL_KEY,
            (7, 7, 7),
            (0, 0, 0),
            NodeKind::Ttl(500).owner(),
        );
        put_ustring(&mut buf, Some("/"));
        let seal = adler32(&buf);
        put_i64(&mut buf, i64::from(seal));
        put_ustring(&mut buf, Some("/"));
        buf
    }

    pub(crate) fn entry(buf: &mut BytesMut, session: i64, zxid: i64, kind: i32, body: &[u8]) {
        let mut txn = BytesMut::new();
        put_i64(&mut txn, session);
        put_i32(&mut txn, 1);
        put_i64(&mut txn, zxid);
        put_i64(&mut txn, 3000);
        put_i32(&mut txn, kind);
        txn.put_slice(body);
        // A 3.6+ digest after the txn, which the reader ignores.
        put_i32(&mut txn, 2);
        put_i64(&mut txn, 99);
        put_i64(buf, i64::from(adler32(&txn)));
        put_buffer(buf, Some(&txn));
        buf.put_u8(END_OF_RECORD);
    }

    pub(crate) fn create_body(path: &str, ephemeral: bool, cversion: i32) -> BytesMut {
        let mut body = BytesMut::new();
        put_ustring(&mut body, Some(path));
        put_buffer(&mut body, Some(b"v"));
        put_acl(&mut body, &Acl::open_unsafe());
        body.put_u8(u8::from(ephemeral));
        put_i32(&mut body, cversion);
        body
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use bytes::{BufMut, BytesMut};
    use zk_proto::jute::{put_buffer, put_i32, put_ustring};

    #[test]
    fn adler32_matches_known_values() {
        assert_eq!(adler32(b""), 1);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
        let long = vec![0xffu8; 100_000];
        // Computed byte by byte without the run optimisation.
        let (mut a, mut b) = (1u64, 0u64);
        for &x in &long {
            a = (a + u64::from(x)) % 65_521;
            b = (b + a) % 65_521;
        }
        assert_eq!(u64::from(adler32(&long)), (b << 16) | a);
    }

    #[test]
    fn a_snapshot_becomes_a_tree_with_zookeepers_stats() {
        let (tree, digest) = read_snapshot(snapshot_bytes().freeze(), 7).unwrap();
        assert_eq!(digest, None);
        assert_eq!(tree.last_zxid(), 7);
        assert_eq!(tree.sessions().collect::<Vec<_>>(), vec![(0x55, 4000)]);
        let a = tree.get("/a").unwrap();
        assert_eq!(a.data(), Some(&b"data"[..]));
        assert_eq!((a.czxid, a.mzxid, a.pzxid), (2, 5, 6));
        assert_eq!((a.ctime, a.mtime), (1000, 2000));
        assert_eq!((a.version, a.cversion, a.aversion), (4, 1, 2));
        assert_eq!(a.num_children, 1);
        assert_eq!(*a.acl, digest_acl());
        let e = tree.get("/a/e").unwrap();
        assert_eq!((e.data(), e.owner()), (None, 0x55));
        assert_eq!(tree.ephemerals_of(0x55).len(), 1);
        assert_eq!(
            NodeKind::from_owner(tree.get("/t").unwrap().owner()),
            NodeKind::Ttl(500)
        );
        assert_eq!(tree.get("/").unwrap().cversion, 3);
        // ZooKeeper's configuration text is not carried over.
        assert_eq!(tree.get(CONFIG_PATH).unwrap().data(), Some(&b""[..]));
    }

    #[test]
    fn our_snapshot_of_a_tree_reads_back_the_same() {
        let (tree, _) = read_snapshot(snapshot_bytes().freeze(), 7).unwrap();
        let written = write_snapshot(&tree);
        let (again, digest) = read_snapshot(written.freeze(), 7).unwrap();
        // Sealed with the tree's digest, which the nodes under /zookeeper/ do not change.
        let digest = digest.unwrap();
        assert_eq!(digest.zxid, 7);
        assert_eq!(digest.digest, tree.digest());
        assert_eq!(again.digest(), digest.digest);
        let nodes = |tree: &DataTree| -> Vec<(String, Node)> {
            tree.walk()
                .map(|(path, node)| (path.to_string(), node.clone()))
                .collect()
        };
        assert_eq!(nodes(&again), nodes(&tree));
        assert_eq!(
            again.sessions().collect::<Vec<_>>(),
            tree.sessions().collect::<Vec<_>>()
        );
        let mut changed = tree;
        changed.set_config(b"server.1=elsewhere", 5, 0);
        assert_eq!(changed.digest(), digest.digest);
        assert!(changed.get("/a").is_some());
    }

    #[test]
    fn compressed_snapshots_read_like_plain_ones() {
        let plain = snapshot_bytes().freeze();
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gzip, &plain).unwrap();
        let gzip = Bytes::from(gzip.finish().unwrap());
        let mut snappy = SNAPPY_MAGIC.to_vec();
        snappy.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
        for chunk in plain.chunks(100) {
            let block = snap::raw::Encoder::new().compress_vec(chunk).unwrap();
            snappy.extend_from_slice(&(block.len() as u32).to_be_bytes());
            snappy.extend_from_slice(&block);
        }
        let snappy = Bytes::from(snappy);
        assert_eq!(Compression::of("1f.gz"), (Compression::Gzip, "1f"));
        assert_eq!(Compression::of("1f.snappy"), (Compression::Snappy, "1f"));
        assert_eq!(Compression::of("1f"), (Compression::None, "1f"));
        assert_eq!(
            uncompressed(Compression::Gzip, gzip.clone()).unwrap(),
            plain
        );
        assert_eq!(
            uncompressed(Compression::Snappy, snappy.clone()).unwrap(),
            plain
        );
        assert!(uncompressed(Compression::Gzip, gzip.slice(..gzip.len() / 2)).is_err());
        assert!(uncompressed(Compression::Snappy, snappy.slice(..snappy.len() - 5)).is_err());
        assert!(uncompressed(Compression::Snappy, plain.clone()).is_err());
    }

    #[test]
    fn a_damaged_snapshot_is_refused() {
        let mut bytes = snapshot_bytes();
        let at = bytes.len() / 2;
        bytes[at] ^= 1;
        assert!(read_snapshot(bytes.freeze(), 7).is_err());
        let mut bytes = snapshot_bytes();
        bytes[0] = b'X';
        let error = read_snapshot(bytes.freeze(), 7).unwrap_err();
        assert!(error.contains("bad magic"), "{error}");
        let bytes = snapshot_bytes();
        let cut = bytes.len() - 20;
        assert!(read_snapshot(bytes.freeze().slice(..cut), 7).is_err());
    }

    #[test]
    fn log_entries_become_our_transactions() {
        let mut buf = BytesMut::new();
        header(&mut buf, LOG_MAGIC);
        let mut timeout = BytesMut::new();
        put_i32(&mut timeout, 6000);
        entry(&mut buf, 9, 1, op::CREATE_SESSION, &timeout);
        entry(&mut buf, 9, 2, op::CREATE, &create_body("/e", true, 1));
        let mut multi = BytesMut::new();
        put_i32(&mut multi, 2);
        put_i32(&mut multi, op::CREATE2);
        put_buffer(&mut multi, Some(&create_body("/m", false, 2)));
        put_i32(&mut multi, op::DELETE);
        let mut delete = BytesMut::new();
        put_ustring(&mut delete, Some("/e"));
        put_buffer(&mut multi, Some(&delete));
        entry(&mut buf, 9, 3, op::MULTI, &multi);
        let mut close = BytesMut::new();
        put_i32(&mut close, 1);
        put_ustring(&mut close, Some("/m/gone"));
        entry(&mut buf, 9, 4, op::CLOSE_SESSION, &close);
        // Preallocated zeros after the last entry.
        buf.put_bytes(0, 64);
        let file = read_log(buf.freeze()).unwrap();
        assert_eq!(file.ended_early, None);
        let zxids: Vec<i64> = file.txns.iter().map(|(h, _)| h.zxid).collect();
        assert_eq!(zxids, vec![1, 2, 3, 4]);
        assert_eq!(file.txns[0].1, Txn::CreateSession { timeout: 6000 });
        assert!(
            matches!(&file.txns[1].1, Txn::Create { path, owner: 9, parent_cversion: 1, .. } if path == "/e")
        );
        let Txn::Multi(parts) = &file.txns[2].1 else {
            panic!("not a multi: {:?}", file.txns[2].1)
        };
        assert!(matches!(&parts[0], Txn::Create { path, owner: 0, .. } if path == "/m"));
        assert_eq!(parts[1], Txn::Delete { path: "/e".into() });
        assert_eq!(
            file.txns[3].1,
            Txn::CloseSession {
                ephemerals: vec!["/m/gone".into()]
            }
        );

        let mut tree = DataTree::new();
        for (header, txn) in &file.txns {
            tree.apply(header, txn);
        }
        assert_eq!(tree.last_zxid(), 4);
        assert!(tree.get("/m").is_some() && tree.get("/e").is_none());
        assert_eq!(tree.sessions().count(), 0);
    }

    #[test]
    fn a_failed_multi_applies_nothing() {
        let mut buf = BytesMut::new();
        header(&mut buf, LOG_MAGIC);
        let mut multi = BytesMut::new();
        put_i32(&mut multi, 2);
        put_i32(&mut multi, op::CREATE);
        put_buffer(&mut multi, Some(&create_body("/never", false, 1)));
        put_i32(&mut multi, op::ERROR);
        let mut error = BytesMut::new();
        put_i32(&mut error, -103);
        put_buffer(&mut multi, Some(&error));
        entry(&mut buf, 9, 1, op::MULTI, &multi);
        let file = read_log(buf.freeze()).unwrap();
        let mut tree = DataTree::new();
        for (header, txn) in &file.txns {
            tree.apply(header, txn);
        }
        assert!(tree.get("/never").is_none());
        assert_eq!(tree.last_zxid(), 1);
    }

    fn sample_log() -> BytesMut {
        let mut buf = BytesMut::new();
        header(&mut buf, LOG_MAGIC);
        entry(&mut buf, 9, 1, op::CREATE, &create_body("/a", false, 1));
        entry(&mut buf, 9, 2, op::CREATE, &create_body("/a/b", true, 1));
        buf
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Damaged files are errors, never panics: a flipped byte anywhere, or a cut.
        #[test]
        fn damaged_files_never_panic(at in 0usize..4096, bits in 1u8..=255, cut in 0usize..4096) {
            for bytes in [snapshot_bytes(), sample_log()] {
                let mut flipped = bytes.clone();
                let at = at % flipped.len();
                flipped[at] ^= bits;
                let cut = cut % bytes.len();
                for damaged in [flipped.freeze(), bytes.freeze().slice(..cut)] {
                    let _ = read_snapshot(damaged.clone(), 7);
                    let _ = read_log(damaged);
                }
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            for magic in [SNAPSHOT_MAGIC, LOG_MAGIC] {
                let mut bytes = BytesMut::new();
                header(&mut bytes, magic);
                bytes.extend_from_slice(&tail);
                let _ = read_snapshot(bytes.clone().freeze(), 7);
                let _ = read_log(bytes.freeze());
            }
        }
    }

    #[test]
    fn a_torn_last_entry_ends_the_log() {
        let mut buf = BytesMut::new();
        header(&mut buf, LOG_MAGIC);
        entry(&mut buf, 9, 1, op::CREATE, &create_body("/a", false, 1));
        entry(&mut buf, 9, 2, op::CREATE, &create_body("/b", false, 2));
        let torn = buf.len() - 3;
        let file = read_log(buf.freeze().slice(..torn)).unwrap();
        assert_eq!(file.txns.len(), 1);
        assert!(file.ended_early.is_some());
    }
}
