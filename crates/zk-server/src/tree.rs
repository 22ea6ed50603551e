//! The data tree: znodes, their Stats, the session table and the ephemeral index.
//!
//! One mutable tree holds what is committed; readers share it behind the database's lock. The
//! write path checks each request against the committed tree plus the writes prepared before it
//! ([`crate::pending`], ZooKeeper's "outstanding changes"). Both apply transactions with the same
//! code, [`apply`], written against the small set of edits in [`TreeEdit`].

use std::collections::{BTreeSet, HashMap as StdHashMap};
use std::hash::BuildHasher;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use hashbrown::{DefaultHashBuilder, HashTable};
use zk_proto::{Acl, Stat};

use crate::acl::open_acl_unsafe;
use crate::digest::{self, DigestLog, ZxidDigest};
use crate::path;
use crate::quota;
use crate::txn::{Txn, TxnHeader};

/// An ACL list shared by every node that has it, behind a thin pointer (a node's eight bytes).
pub type SharedAcl = Arc<Vec<Acl>>;

/// ACL lists shared by every node that has the same list, as ZooKeeper's ACL cache does: most
/// trees use a handful of lists, so a node then holds one pointer instead of its own copy.
pub fn intern_acl(acl: &[Acl]) -> SharedAcl {
    static CACHE: LazyLock<Mutex<AclCache>> = LazyLock::new(Mutex::default);
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    cache.intern(acl)
}

#[derive(Debug, Default)]
struct AclCache {
    lists: StdHashMap<Vec<Acl>, Weak<Vec<Acl>>>,
    /// Size at which dead entries are dropped next.
    purge_at: usize,
    /// The list interned last: most writes in a row carry the same one, and comparing it is
    /// cheaper than hashing.
    last: Option<SharedAcl>,
}

impl AclCache {
    fn intern(&mut self, acl: &[Acl]) -> SharedAcl {
        if let Some(last) = self.last.as_ref().filter(|last| last[..] == *acl) {
            return last.clone();
        }
        let shared = self.lookup_or_insert(acl);
        self.last = Some(shared.clone());
        shared
    }

    fn lookup_or_insert(&mut self, acl: &[Acl]) -> SharedAcl {
        if let Some(shared) = self.lists.get(acl).and_then(Weak::upgrade) {
            return shared;
        }
        let shared: SharedAcl = Arc::new(acl.to_vec());
        self.lists.insert(acl.to_vec(), Arc::downgrade(&shared));
        if self.lists.len() > self.purge_at {
            self.lists.retain(|_, list| list.strong_count() > 0);
            self.purge_at = (self.lists.len() * 2).max(1024);
        }
        shared
    }
}

/// ephemeralOwner marker of a container node (hidden from clients).
pub const CONTAINER_OWNER: i64 = i64::MIN;
/// Top byte of a TTL node's ephemeralOwner; the low 56 bits hold the TTL in ms.
const TTL_MARKER: u64 = 0xff00_0000_0000_0000;
/// Largest TTL ZooKeeper accepts (2^40 - 1 ms).
pub const MAX_TTL: i64 = 0xff_ffff_ffff;

/// What kind of node an ephemeralOwner value stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Persistent,
    Ephemeral(i64),
    Container,
    Ttl(i64),
}

impl NodeKind {
    pub fn from_owner(owner: i64) -> Self {
        if owner == 0 {
            NodeKind::Persistent
        } else if owner == CONTAINER_OWNER {
            NodeKind::Container
        } else if (owner as u64) & TTL_MARKER == TTL_MARKER {
            NodeKind::Ttl(((owner as u64) & !TTL_MARKER) as i64)
        } else {
            NodeKind::Ephemeral(owner)
        }
    }

    pub fn owner(self) -> i64 {
        match self {
            NodeKind::Persistent => 0,
            NodeKind::Ephemeral(session) => session,
            NodeKind::Container => CONTAINER_OWNER,
            NodeKind::Ttl(ttl) => (TTL_MARKER | (ttl as u64 & !TTL_MARKER)) as i64,
        }
    }
}

/// One znode: its path, data and Stat fields. The path and the data share one allocation, the
/// bulk of a node's memory, and so does the ephemeralOwner of the nodes that have one (most
/// have none): 96 bytes a node beside that allocation. No node owns a collection of children
/// (the committed tree links them by slot number), so that the write path can copy a node
/// cheaply (see [`crate::pending`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Its place in the committed tree. Held here rather than in a wrapper so that the links
    /// fill the node's alignment padding.
    links: Links,
    /// The raw ephemeralOwner (8 bytes, big-endian) when it is not 0, then the path, then the
    /// data.
    bytes: Box<[u8]>,
    /// Length of the path in `bytes`; [`NULL_DATA`] marks data that is null, not empty, and
    /// [`OWNED`] an owner ahead of the path.
    path_len: u32,
    pub acl: SharedAcl,
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    /// ZooKeeper's persisted cversion: the number of children ever created here. Clients see
    /// `2 * cversion - numChildren` (client-protocol §8.3).
    pub cversion: i32,
    pub aversion: i32,
    pub pzxid: i64,
    pub num_children: i32,
}

/// Bit of [`Node::path_len`] set when the data is null.
const NULL_DATA: u32 = 1 << 31;

/// Bit of [`Node::path_len`] set when the bytes start with an owner.
const OWNED: u32 = 1 << 30;

/// The bits of [`Node::path_len`] that are flags, not length.
const FLAGS: u32 = NULL_DATA | OWNED;

/// Bytes of an owner ahead of the path.
const OWNER_LEN: usize = 8;

/// Where an ensemble keeps its configuration (`server.N` lines and `version=`).
pub const CONFIG_PATH: &str = "/zookeeper/config";

/// `/zookeeper/config` as ZooKeeper creates it: empty, readable by anyone, writable by nobody
/// (but a super user), ACL version -1.
pub(crate) fn config_node() -> Node {
    let read_only = intern_acl(&[crate::acl::acl(zk_proto::Perms::READ, "world", "anyone")]);
    let mut node = Node::new(CONFIG_PATH, Some(b""), read_only, 0, 0, 0);
    node.aversion = -1;
    node
}

impl Node {
    pub fn new(
        path: &str,
        data: Option<&[u8]>,
        acl: SharedAcl,
        owner: i64,
        zxid: i64,
        time: i64,
    ) -> Self {
        let (bytes, path_len) = Self::pack(owner, path.as_bytes(), data);
        Node {
            bytes,
            path_len,
            acl,
            czxid: zxid,
            mzxid: zxid,
            ctime: time,
            mtime: time,
            version: 0,
            cversion: 0,
            aversion: 0,
            pzxid: zxid,
            num_children: 0,
            links: Links::UNLINKED,
        }
    }

    fn pack(owner: i64, path: &[u8], data: Option<&[u8]>) -> (Box<[u8]>, u32) {
        let data_bytes = data.unwrap_or_default();
        let owner_len = if owner == 0 { 0 } else { OWNER_LEN };
        let mut bytes = Vec::with_capacity(owner_len + path.len() + data_bytes.len());
        if owner != 0 {
            bytes.extend_from_slice(&owner.to_be_bytes());
        }
        bytes.extend_from_slice(path);
        bytes.extend_from_slice(data_bytes);
        // Paths are bounded by jute.maxbuffer, far below 2^30 bytes.
        let mut path_len = u32::try_from(path.len()).unwrap_or(OWNED - 1) & !FLAGS;
        if data.is_none() {
            path_len |= NULL_DATA;
        }
        if owner != 0 {
            path_len |= OWNED;
        }
        (bytes.into_boxed_slice(), path_len)
    }

    /// Where the path starts in `bytes`.
    fn path_start(&self) -> usize {
        if self.path_len & OWNED != 0 {
            OWNER_LEN
        } else {
            0
        }
    }

    fn path_end(&self) -> usize {
        self.path_start() + (self.path_len & !FLAGS) as usize
    }

    pub fn path_bytes(&self) -> &[u8] {
        self.bytes
            .get(self.path_start()..self.path_end())
            .unwrap_or_default()
    }

    /// The raw ephemeralOwner: a session, or the container and TTL markers (see [`NodeKind`]).
    pub fn owner(&self) -> i64 {
        match self.bytes.first_chunk::<OWNER_LEN>() {
            Some(owner) if self.path_len & OWNED != 0 => i64::from_be_bytes(*owner),
            _ => 0,
        }
    }

    pub fn set_owner(&mut self, owner: i64) {
        if owner != self.owner() {
            (self.bytes, self.path_len) = Self::pack(owner, self.path_bytes(), self.data());
        }
    }

    pub fn path(&self) -> &str {
        // Built from a `&str`, so always UTF-8.
        std::str::from_utf8(self.path_bytes()).unwrap_or_default()
    }

    pub fn data(&self) -> Option<&[u8]> {
        if self.path_len & NULL_DATA != 0 {
            return None;
        }
        Some(self.bytes.get(self.path_end()..).unwrap_or_default())
    }

    /// Replaces the data; in place when it keeps its length, as most overwrites do.
    pub fn set_data(&mut self, data: Option<&[u8]>) {
        let path_end = self.path_end();
        match (data, self.bytes.get_mut(path_end..)) {
            (Some(data), Some(old)) if old.len() == data.len() => {
                old.copy_from_slice(data);
                self.path_len &= !NULL_DATA;
            }
            _ => (self.bytes, self.path_len) = Self::pack(self.owner(), self.path_bytes(), data),
        }
    }

    pub fn kind(&self) -> NodeKind {
        NodeKind::from_owner(self.owner())
    }

    /// The Stat clients see.
    pub fn stat(&self) -> Stat {
        let num_children = self.num_children;
        Stat {
            czxid: self.czxid,
            mzxid: self.mzxid,
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            cversion: self.cversion.wrapping_mul(2).wrapping_sub(num_children),
            aversion: self.aversion,
            ephemeral_owner: match self.kind() {
                NodeKind::Ephemeral(session) => session,
                _ => 0,
            },
            data_length: self
                .data()
                .map_or(0, |d| i32::try_from(d.len()).unwrap_or(i32::MAX)),
            num_children,
            pzxid: self.pzxid,
        }
    }
}

/// A change to one node, as watches see it. Creation and deletion also change the parent's
/// children; the watch manager derives that event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Created(Arc<str>),
    /// With the ACL the node had: a watcher must have been allowed to read it.
    Deleted(Arc<str>, SharedAcl),
    DataChanged(Arc<str>),
}

impl Change {
    pub fn path(&self) -> &Arc<str> {
        match self {
            Change::Created(path) | Change::Deleted(path, _) | Change::DataChanged(path) => path,
        }
    }
}

/// What the checks of a write read: the committed tree, or it plus the prepared writes.
pub trait TreeView {
    /// Looks a node up; `""` is an alias of `/` as in ZooKeeper.
    fn get(&self, path: &str) -> Option<&Node>;
    fn session_timeout(&self, session: i64) -> Option<i32>;
    /// Ephemeral paths of a session, sorted.
    fn ephemerals_of(&self, session: i64) -> Vec<Arc<str>>;
    fn last_zxid(&self) -> i64;
}

/// The edits [`apply`] makes. Each implementation keeps its own indexes (children, ephemerals,
/// reapable nodes) in step with the nodes it adds and removes.
pub trait TreeEdit: TreeView {
    /// Changes the node at `path` in place; false if there is none.
    fn update(&mut self, path: &str, change: &mut dyn FnMut(&mut Node)) -> bool;
    /// Adds a node whose parent exists and which does not.
    fn add_node(&mut self, node: Node);
    fn remove_node(&mut self, path: &str) -> Option<Node>;
    fn set_session(&mut self, session: i64, timeout: Option<i32>);
    fn set_last_zxid(&mut self, zxid: i64);
    /// `path` gained (or lost) `count` nodes and `bytes` of data: the committed tree counts it
    /// in the quota that covers the path (see [`crate::quota`]); prepared state does not, as in
    /// ZooKeeper, whose quota checks read the committed tree.
    fn count_in_quota(&mut self, _path: &str, _count: i64, _bytes: i64) {}
    /// The transaction `zxid` is applied whole: the committed tree notes its digest.
    fn applied(&mut self, _zxid: i64) {}
}

/// Applies a committed (or prepared) transaction. Errors are ignored, as in ZooKeeper's replay:
/// a transaction records resulting state, so re-applying one is harmless.
pub fn apply<T: TreeEdit + ?Sized>(tree: &mut T, header: &TxnHeader, txn: &Txn) {
    apply_reporting(tree, header, txn, None);
}

/// [`apply`], returning the node changes in the order watches must see them. Only the commit
/// path has watchers to tell; preparing and recovering skip building the list.
pub fn apply_watched<T: TreeEdit + ?Sized>(
    tree: &mut T,
    header: &TxnHeader,
    txn: &Txn,
) -> Vec<Change> {
    let mut changes = Vec::with_capacity(1);
    apply_reporting(tree, header, txn, Some(&mut changes));
    changes
}

/// Where the changes go, if anywhere.
type Report<'a> = Option<&'a mut Vec<Change>>;

fn apply_reporting<T: TreeEdit + ?Sized>(
    tree: &mut T,
    header: &TxnHeader,
    txn: &Txn,
    mut changes: Report<'_>,
) {
    apply_into(tree, header, txn, &mut changes);
    if header.zxid > tree.last_zxid() {
        tree.set_last_zxid(header.zxid);
    }
    tree.applied(header.zxid);
}

fn report(changes: &mut Report<'_>, change: impl FnOnce() -> Change) {
    if let Some(changes) = changes {
        changes.push(change());
    }
}

fn apply_into<T: TreeEdit + ?Sized>(
    tree: &mut T,
    header: &TxnHeader,
    txn: &Txn,
    changes: &mut Report<'_>,
) {
    let zxid = header.zxid;
    match txn {
        Txn::CreateSession { timeout } => tree.set_session(header.session_id, Some(*timeout)),
        Txn::CloseSession { ephemerals } => {
            // The tree's own index is the authority; the list in the txn is what prep saw.
            let mut paths = tree.ephemerals_of(header.session_id);
            for extra in ephemerals {
                if !paths.iter().any(|p| **p == **extra) {
                    paths.push(Arc::from(extra.as_str()));
                }
            }
            for path in paths {
                delete(tree, &path, zxid, changes);
            }
            tree.set_session(header.session_id, None);
        }
        Txn::Create {
            path,
            data,
            acl,
            owner,
            parent_cversion,
        } => {
            let Some((parent_path, _)) = path::split_parent(path) else {
                return;
            };
            let exists = tree.get(path).is_some();
            let parent_found = tree.update(parent_path, &mut |parent| {
                // A create replayed on top of a snapshot that already has the node still moves
                // the parent's cversion/pzxid forward (quorum §9.5).
                if *parent_cversion > parent.cversion {
                    parent.cversion = *parent_cversion;
                    parent.pzxid = zxid;
                }
                if !exists {
                    parent.num_children = parent.num_children.saturating_add(1);
                }
            });
            if !parent_found || exists {
                return;
            }
            let node = Node::new(
                path,
                data.as_deref(),
                acl.clone(),
                *owner,
                zxid,
                header.time,
            );
            tree.add_node(node);
            tree.count_in_quota(path, 1, data_len(data.as_deref()));
            report(changes, || Change::Created(Arc::from(path.as_str())));
        }
        Txn::Delete { path } => delete(tree, path, zxid, changes),
        Txn::SetData {
            path,
            data,
            version,
        } => {
            let mut old_len = None;
            tree.update(path, &mut |node| {
                old_len = Some(data_len(node.data()));
                node.set_data(data.as_deref());
                node.version = *version;
                node.mzxid = zxid;
                node.mtime = header.time;
            });
            if let Some(old_len) = old_len {
                tree.count_in_quota(path, 0, data_len(data.as_deref()) - old_len);
                report(changes, || Change::DataChanged(Arc::from(path.as_str())));
            }
        }
        Txn::SetAcl { path, acl, version } => {
            tree.update(path, &mut |node| {
                node.acl = acl.clone();
                node.aversion = *version;
            });
        }
        Txn::Reconfig { config } => {
            // As ZooKeeper's setData with the txn's version -1: the node keeps version -1, and
            // its mzxid is the configuration's version.
            let updated = tree.update(CONFIG_PATH, &mut |node| {
                node.set_data(Some(config));
                node.version = -1;
                node.mzxid = zxid;
                node.mtime = header.time;
            });
            if updated {
                report(changes, || Change::DataChanged(Arc::from(CONFIG_PATH)));
            }
        }
        Txn::Check { .. } | Txn::Error { .. } => {}
        Txn::Multi(ops) => {
            for op in ops {
                apply_into(tree, header, op, changes);
            }
        }
    }
}

fn delete<T: TreeEdit + ?Sized>(tree: &mut T, path: &str, zxid: i64, changes: &mut Report<'_>) {
    let removed = tree.remove_node(path);
    // The parent's pzxid moves even when the node is already gone, as in ZooKeeper: a fuzzy
    // snapshot may hold the parent as it was before the delete and miss the deleted child.
    if let Some(parent_path) = parent_of(path) {
        let removed_one = removed.is_some();
        tree.update(parent_path, &mut |parent| {
            if removed_one {
                parent.num_children = parent.num_children.saturating_sub(1).max(0);
            }
            if zxid > parent.pzxid {
                parent.pzxid = zxid;
            }
        });
    }
    if let Some(node) = removed {
        tree.count_in_quota(path, -1, -data_len(node.data()));
        report(changes, || Change::Deleted(Arc::from(path), node.acl));
    }
}

/// Bytes of a node's data, as quotas count them (none for null data).
pub fn data_len(data: Option<&[u8]>) -> i64 {
    data.map_or(0, |data| data.len() as i64)
}

/// A tree a multi is tried on: saved before its first op, restored if one fails.
pub trait Rollback: TreeEdit {
    type Saved;
    fn save(&self) -> Self::Saved;
    fn restore(&mut self, saved: Self::Saved);
}

/// Whole copies: for tests that prepare straight on a committed tree.
impl Rollback for DataTree {
    type Saved = DataTree;

    fn save(&self) -> DataTree {
        self.clone()
    }

    fn restore(&mut self, saved: DataTree) {
        *self = saved;
    }
}

/// Where a slot link points to nothing.
const NONE: u32 = u32::MAX;

/// A node's place among its relatives in the committed tree: children form a doubly linked
/// list through their slots, so that no parent needs a collection of its own. A node's parent
/// is found by its path, which only a delete of a first child needs.
#[derive(Debug, Clone, Copy)]
struct Links {
    first_child: u32,
    prev_sibling: u32,
    next_sibling: u32,
}

impl Links {
    const UNLINKED: Links = Links {
        first_child: NONE,
        prev_sibling: NONE,
        next_sibling: NONE,
    };
}

/// Where a node sits is not what it is: nodes compare by content.
impl PartialEq for Links {
    fn eq(&self, _: &Links) -> bool {
        true
    }
}

impl Eq for Links {}

/// A slot of the committed tree holds a node, links included.
type Slot = Node;

/// The committed database state. Nodes live in a vector of slots, found by path through a hash
/// table of slot numbers: a node costs its slot, its one allocation and a few bytes of table.
#[derive(Debug, Clone)]
pub struct DataTree {
    slots: Vec<Option<Slot>>,
    /// Empty slots, reused before the vector grows.
    free: Vec<u32>,
    /// Slot numbers, hashed by their node's path.
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    /// Session id → negotiated timeout, for every open session.
    sessions: StdHashMap<i64, i32>,
    ephemerals: StdHashMap<i64, BTreeSet<Arc<str>>>,
    /// Container and TTL nodes, which the reaper visits.
    reapable: BTreeSet<Arc<str>>,
    last_zxid: i64,
    /// ZooKeeper's digest of every node (see [`digest`]), kept as nodes change.
    digest: i64,
    digest_log: DigestLog,
}

impl Default for DataTree {
    fn default() -> Self {
        Self::new()
    }
}

/// The index hash of the node in slot `at`, for the table to rehash its entries as it grows.
fn slot_hash(slots: &[Option<Slot>], hasher: &DefaultHashBuilder, at: u32) -> u64 {
    let path = slots
        .get(at as usize)
        .and_then(Option::as_ref)
        .map_or(&[][..], |s| s.path_bytes());
    hasher.hash_one(path)
}

/// The parent's path of a node; none for the root.
fn parent_of(path: &str) -> Option<&str> {
    match path::split_parent(path) {
        Some((parent, name)) if !name.is_empty() => Some(parent),
        _ => None,
    }
}

/// `""` is an alias of `/` in ZooKeeper's lookups.
pub fn lookup_path(path: &str) -> &str {
    if path.is_empty() { "/" } else { path }
}

impl DataTree {
    fn empty(last_zxid: i64) -> Self {
        DataTree {
            slots: Vec::new(),
            free: Vec::new(),
            index: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            sessions: StdHashMap::new(),
            ephemerals: StdHashMap::new(),
            reapable: BTreeSet::new(),
            last_zxid,
            digest: 0,
            digest_log: DigestLog::default(),
        }
    }

    /// A fresh tree: `/`, `/zookeeper`, `/zookeeper/quota` and `/zookeeper/config`.
    pub fn new() -> Self {
        let mut tree = DataTree::empty(0);
        let open = intern_acl(&open_acl_unsafe());
        let empty: Option<&[u8]> = Some(b"");
        tree.insert_builtin(Node::new("/", empty, open.clone(), 0, 0, 0));
        tree.insert_builtin(Node::new("/zookeeper", empty, open.clone(), 0, 0, 0));
        tree.insert_builtin(Node::new("/zookeeper/quota", empty, open, 0, 0, 0));
        tree.insert_builtin(config_node());
        tree
    }

    /// Writes an ensemble's configuration into `/zookeeper/config`, as ZooKeeper's
    /// `initConfigInZKDatabase` does on every member: not a transaction (each member writes its
    /// own), so the node's version stays -1 and its mzxid is the configuration's version.
    pub fn set_config(&mut self, text: &[u8], config_version: i64, time: i64) {
        if self.get(CONFIG_PATH).is_none() {
            // A tree from before the node existed.
            self.insert_builtin(config_node());
        }
        self.update(CONFIG_PATH, |node| {
            node.set_data(Some(text));
            node.version = -1;
            node.mzxid = config_version;
            node.mtime = time;
        });
    }

    /// Inserts a node at start-up without counting it in the parent's cversion, as ZooKeeper does
    /// for its built-in nodes (hence cversion -1 on `/` and -2 on `/zookeeper`).
    fn insert_builtin(&mut self, node: Node) {
        if let Some(parent) = parent_of(node.path()) {
            self.update(parent, |parent| parent.num_children += 1);
        }
        self.add_node(node);
    }

    pub fn apply(&mut self, header: &TxnHeader, txn: &Txn) {
        apply(self, header, txn);
    }

    pub fn apply_watched(&mut self, header: &TxnHeader, txn: &Txn) -> Vec<Change> {
        apply_watched(self, header, txn)
    }

    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    /// ZooKeeper's digest of the tree as it stands.
    pub fn digest(&self) -> i64 {
        self.digest
    }

    /// The digests recorded after every 128th transaction, oldest first.
    pub fn digest_log(&self) -> impl Iterator<Item = ZxidDigest> + '_ {
        self.digest_log.records()
    }

    /// Changes the node at `path` in place, keeping the tree's digest; false if there is none.
    pub fn update(&mut self, path: &str, change: impl FnOnce(&mut Node)) -> bool {
        let Some(node) = self.find(path).and_then(|at| self.slot_mut(at)) else {
            return false;
        };
        let before = digest::of_node(node);
        change(node);
        let after = digest::of_node(node);
        self.digest = self.digest.wrapping_sub(before).wrapping_add(after);
        true
    }

    fn slot(&self, at: u32) -> Option<&Slot> {
        self.slots.get(at as usize)?.as_ref()
    }

    fn slot_mut(&mut self, at: u32) -> Option<&mut Slot> {
        self.slots.get_mut(at as usize)?.as_mut()
    }

    fn hash(&self, path: &[u8]) -> u64 {
        self.hasher.hash_one(path)
    }

    /// The slot of the node at `path`.
    fn find(&self, path: &str) -> Option<u32> {
        let path = lookup_path(path).as_bytes();
        self.find_hashed(self.hash(path), path)
    }

    /// The slot of the node at `path`, whose hash is `hash`.
    fn find_hashed(&self, hash: u64, path: &[u8]) -> Option<u32> {
        self.index
            .find(hash, |&at| {
                self.slot(at).is_some_and(|s| s.path_bytes() == path)
            })
            .copied()
    }

    /// Puts a node in a slot and the index, linked to nothing yet; gives the node back if its
    /// path is taken.
    fn insert_unlinked(&mut self, node: Node) -> Result<u32, Node> {
        let path = node.path_bytes();
        let hash = self.hash(path);
        if self.find_hashed(hash, path).is_some() {
            return Err(node);
        }
        let mut slot = node;
        slot.links = Links::UNLINKED;
        self.digest = self.digest.wrapping_add(digest::of_node(&slot));
        let at = match self.free.pop() {
            Some(at) => {
                self.slots[at as usize] = Some(slot);
                at
            }
            None => {
                // Slot numbers are u32: four billion nodes is beyond any tree that fits in memory.
                let at = u32::try_from(self.slots.len()).unwrap_or(NONE - 1);
                self.slots.push(Some(slot));
                at
            }
        };
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index
            .insert_unique(hash, at, |&at| slot_hash(slots, hasher, at));
        self.index_kind(at);
        Ok(at)
    }

    /// Adds the node in slot `at` to the ephemeral or reapable index its kind calls for.
    fn index_kind(&mut self, at: u32) {
        let Some(node) = self.slots.get(at as usize).and_then(Option::as_ref) else {
            return;
        };
        match node.kind() {
            NodeKind::Ephemeral(session) => {
                self.ephemerals
                    .entry(session)
                    .or_default()
                    .insert(Arc::from(node.path()));
            }
            NodeKind::Container | NodeKind::Ttl(_) => {
                self.reapable.insert(Arc::from(node.path()));
            }
            NodeKind::Persistent => {}
        }
    }

    /// Makes `child` the first child of `parent`.
    fn link(&mut self, parent: u32, child: u32) {
        let Some(first) = self.slot(parent).map(|p| p.links.first_child) else {
            return;
        };
        if let Some(next) = self.slot_mut(first) {
            next.links.prev_sibling = child;
        }
        if let Some(slot) = self.slot_mut(child) {
            slot.links.prev_sibling = NONE;
            slot.links.next_sibling = first;
        }
        if let Some(slot) = self.slot_mut(parent) {
            slot.links.first_child = child;
        }
    }

    /// Takes the node in slot `at` out of the tree, with every descendant it still has (a
    /// consistent tree has none: only empty nodes are deleted).
    fn remove_at(&mut self, at: u32) -> Option<Node> {
        let slot = self.slots.get_mut(at as usize)?.take()?;
        self.digest = self.digest.wrapping_sub(digest::of_node(&slot));
        let Links {
            prev_sibling: prev,
            next_sibling: next,
            ..
        } = slot.links;
        if let Some(prev) = self.slot_mut(prev) {
            prev.links.next_sibling = next;
        } else if let Some(parent) = parent_of(slot.path()).and_then(|p| self.find(p))
            && let Some(parent) = self.slot_mut(parent)
            && parent.links.first_child == at
        {
            parent.links.first_child = next;
        }
        if let Some(next) = self.slot_mut(next) {
            next.links.prev_sibling = prev;
        }
        let path = slot.path_bytes();
        let hash = self.hash(path);
        if let Ok(entry) = self.index.find_entry(hash, |&found| found == at) {
            entry.remove();
        }
        self.free.push(at);
        let path = slot.path();
        match slot.kind() {
            NodeKind::Ephemeral(session) => {
                if let Some(set) = self.ephemerals.get_mut(&session) {
                    set.remove(path);
                    if set.is_empty() {
                        self.ephemerals.remove(&session);
                    }
                }
            }
            NodeKind::Container | NodeKind::Ttl(_) => {
                self.reapable.remove(path);
            }
            NodeKind::Persistent => {}
        }
        let mut child = slot.links.first_child;
        while child != NONE {
            let next = self.slot(child).map_or(NONE, |c| c.links.next_sibling);
            // A first child looks for its parent to unlink from: this one is out of the index.
            if let Some(c) = self.slot_mut(child) {
                c.links.prev_sibling = NONE;
            }
            self.remove_at(child);
            child = next;
        }
        Some(slot)
    }

    /// Looks a node up; `""` is an alias of `/` as in ZooKeeper.
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.find(path).and_then(|at| self.slot(at))
    }

    pub fn session_timeout(&self, session: i64) -> Option<i32> {
        self.sessions.get(&session).copied()
    }

    /// Ephemeral paths of a session, sorted.
    pub fn ephemerals_of(&self, session: i64) -> Vec<Arc<str>> {
        self.ephemerals
            .get(&session)
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The children of the node in slot `at`, newest first.
    fn children_of(&self, at: u32) -> impl Iterator<Item = (u32, &Node)> + '_ {
        let mut next = self.slot(at).map_or(NONE, |s| s.links.first_child);
        std::iter::from_fn(move || {
            let at = next;
            let slot = self.slot(at)?;
            next = slot.links.next_sibling;
            Some((at, slot))
        })
    }

    /// Child names (last path component), sorted.
    pub fn child_names(&self, path: &str) -> Vec<String> {
        let Some(at) = self.find(path) else {
            return Vec::new();
        };
        let mut names: Vec<String> = self
            .children_of(at)
            .map(|(_, child)| path::name_of(child.path()).to_owned())
            .collect();
        names.sort_unstable();
        names
    }

    /// Number of znodes (ZooKeeper counts `/` twice, so `Node count` adds one).
    pub fn node_count(&self) -> usize {
        self.index.len()
    }

    /// Visits every descendant of the node at `path`, depth first (the node itself not).
    fn for_each_descendant(&self, path: &str, mut visit: impl FnMut(&Node)) {
        let mut stack: Vec<u32> = self.find(path).into_iter().collect();
        while let Some(at) = stack.pop() {
            for (child, node) in self.children_of(at) {
                visit(node);
                stack.push(child);
            }
        }
    }

    /// Nodes and bytes of data in a subtree, its root included (what a quota counts).
    fn subtree_totals(&self, path: &str) -> (i64, i64) {
        let Some(root) = self.get(path) else {
            return (0, 0);
        };
        let (mut count, mut bytes) = (1, data_len(root.data()));
        self.for_each_descendant(path, |node| {
            count += 1;
            bytes += data_len(node.data());
        });
        (count, bytes)
    }

    /// Rewrites the stats node of the quota on `quota_path` from what its subtree holds.
    fn recount_quota(&mut self, quota_path: &str) {
        let (count, bytes) = self.subtree_totals(quota_path);
        self.update(&quota::stats_path(quota_path), |stats| {
            stats.set_data(Some(quota::stats_text(count, bytes).as_bytes()));
        });
    }

    /// Recounts every quota (after loading a snapshot, whose fuzzy stats nodes may disagree
    /// with the nodes written around them), as ZooKeeper does when it loads its database.
    pub fn recount_quotas(&mut self) {
        let mut quota_paths = Vec::new();
        self.for_each_descendant(quota::QUOTA_ROOT, |node| {
            if let Some(quota_path) = quota::limited_by_limits_node(node.path()) {
                quota_paths.push(quota_path.to_owned());
            }
        });
        for quota_path in quota_paths {
            self.recount_quota(&quota_path);
        }
    }

    /// All descendants of a node, the node itself not counted.
    pub fn descendant_count(&self, path: &str) -> usize {
        let mut count = 0;
        self.for_each_descendant(path, |_| count += 1);
        count
    }

    pub fn sessions(&self) -> impl Iterator<Item = (i64, i32)> + '_ {
        self.sessions.iter().map(|(id, timeout)| (*id, *timeout))
    }

    pub fn ephemeral_count(&self) -> usize {
        self.ephemerals.values().map(|set| set.len()).sum()
    }

    /// Container and TTL nodes with no children, for the reaper.
    pub fn reapable(&self) -> impl Iterator<Item = (&Arc<str>, &Node)> + '_ {
        self.reapable
            .iter()
            .filter_map(|path| self.get(path).map(|node| (path, node)))
    }

    /// Every node, parents before children, children sorted (an export, and tests comparing
    /// whole trees).
    pub fn walk(&self) -> impl Iterator<Item = (Arc<str>, &Node)> + '_ {
        let mut nodes = Vec::new();
        let mut stack: Vec<u32> = self.find("/").into_iter().collect();
        while let Some(at) = stack.pop() {
            let Some(slot) = self.slot(at) else { continue };
            nodes.push(slot);
            let mut children: Vec<(u32, &Node)> = self.children_of(at).collect();
            children.sort_by(|a, b| b.1.path().cmp(a.1.path()));
            stack.extend(children.into_iter().map(|(child, _)| child));
        }
        nodes.into_iter().map(|node| (Arc::from(node.path()), node))
    }

    /// Visits up to `limit` more nodes of a walk that may span changes to the tree (a fuzzy
    /// snapshot). The walk goes through the slots in order, up to the last one used when it
    /// started: a node that stays for the whole walk stays in its slot and is visited once; one
    /// added meanwhile may be missed and one removed meanwhile may be seen (replaying the log's
    /// later transactions settles both), and a parent may come after its children. Returns
    /// false once the walk is complete.
    pub fn walk_some(
        &self,
        cursor: &mut WalkCursor,
        limit: usize,
        mut visit: impl FnMut(&Node),
    ) -> bool {
        let end = (*cursor.end.get_or_insert(self.slots.len())).min(self.slots.len());
        let mut visited = 0;
        while cursor.next < end && visited < limit {
            if let Some(slot) = &self.slots[cursor.next] {
                visit(slot);
                visited += 1;
            }
            cursor.next += 1;
        }
        cursor.next < end
    }
}

/// Rebuilds a tree from a snapshot's nodes, in any order. Each node is linked under its parent
/// as soon as the parent is in; parents usually come first, and consecutive nodes usually share
/// one, so that costs one hash lookup per parent. A node whose parent never comes is dropped:
/// a fuzzy snapshot may hold a node whose parent was deleted before the walk reached it, and
/// the log's later transactions delete that node too.
#[derive(Debug)]
pub struct TreeBuilder {
    tree: DataTree,
    /// The slot of the last parent found.
    last_parent: Option<u32>,
    /// Nodes whose parent had not come yet.
    waiting: Vec<u32>,
}

impl TreeBuilder {
    /// `capacity`: the number of nodes expected (a hint).
    pub fn new(last_zxid: i64, sessions: StdHashMap<i64, i32>, capacity: usize) -> Self {
        let mut tree = DataTree::empty(last_zxid);
        tree.sessions = sessions;
        tree.slots.reserve(capacity);
        let (slots, hasher) = (&tree.slots, &tree.hasher);
        tree.index
            .reserve(capacity, |&at| slot_hash(slots, hasher, at));
        TreeBuilder {
            tree,
            last_parent: None,
            waiting: Vec::new(),
        }
    }

    pub fn add(&mut self, mut node: Node) -> Result<(), String> {
        node.num_children = 0;
        let at = self
            .tree
            .insert_unlinked(node)
            .map_err(|node| format!("snapshot node {:?} appears twice", node.path()))?;
        if !self.try_link(at) {
            self.waiting.push(at);
        }
        Ok(())
    }

    /// Links the node in slot `at` under its parent if that is in; true if linked (or root).
    fn try_link(&mut self, at: u32) -> bool {
        let Some(path) = self.tree.slot(at).map(|s| s.path()) else {
            return true;
        };
        let Some(parent_path) = parent_of(path) else {
            return true;
        };
        let parent = match self.last_parent {
            Some(last)
                if self
                    .tree
                    .slot(last)
                    .is_some_and(|s| s.path_bytes() == parent_path.as_bytes()) =>
            {
                Some(last)
            }
            _ => self.tree.find(parent_path),
        };
        let Some(parent) = parent else {
            return false;
        };
        self.last_parent = Some(parent);
        self.tree.link(parent, at);
        if let Some(slot) = self.tree.slot_mut(parent) {
            slot.num_children = slot.num_children.saturating_add(1);
        }
        true
    }

    /// Links the nodes still waiting and drops those whose parent never came; fails without a
    /// root. Returns the tree and how many nodes were dropped.
    pub fn finish(mut self) -> Result<(DataTree, usize), String> {
        if self.tree.find("/").is_none() {
            return Err("snapshot has no root node".into());
        }
        loop {
            let before = self.waiting.len();
            let waiting = std::mem::take(&mut self.waiting);
            for at in waiting {
                if !self.try_link(at) {
                    self.waiting.push(at);
                }
            }
            if self.waiting.len() == before {
                break;
            }
        }
        let before = self.tree.node_count();
        for at in std::mem::take(&mut self.waiting) {
            self.tree.remove_at(at);
        }
        let dropped = before - self.tree.node_count();
        Ok((self.tree, dropped))
    }
}

/// Where a [`DataTree::walk_some`] walk stands.
#[derive(Debug, Default)]
pub struct WalkCursor {
    next: usize,
    /// The slots in use when the walk started.
    end: Option<usize>,
}

impl TreeView for DataTree {
    fn get(&self, path: &str) -> Option<&Node> {
        DataTree::get(self, path)
    }

    fn session_timeout(&self, session: i64) -> Option<i32> {
        DataTree::session_timeout(self, session)
    }

    fn ephemerals_of(&self, session: i64) -> Vec<Arc<str>> {
        DataTree::ephemerals_of(self, session)
    }

    fn last_zxid(&self) -> i64 {
        self.last_zxid
    }
}

impl TreeEdit for DataTree {
    fn update(&mut self, path: &str, change: &mut dyn FnMut(&mut Node)) -> bool {
        DataTree::update(self, path, change)
    }

    fn add_node(&mut self, node: Node) {
        let parent = parent_of(node.path()).and_then(|parent| self.find(parent));
        let Ok(at) = self.insert_unlinked(node) else {
            return;
        };
        if let Some(parent) = parent {
            self.link(parent, at);
        }
    }

    fn remove_node(&mut self, path: &str) -> Option<Node> {
        let at = self.find(path)?;
        self.remove_at(at)
    }

    fn set_session(&mut self, session: i64, timeout: Option<i32>) {
        match timeout {
            Some(timeout) => {
                self.sessions.insert(session, timeout);
            }
            None => {
                self.sessions.remove(&session);
                self.ephemerals.remove(&session);
            }
        }
    }

    fn set_last_zxid(&mut self, zxid: i64) {
        self.last_zxid = zxid;
    }

    fn applied(&mut self, zxid: i64) {
        self.digest_log.note(zxid, self.digest);
    }

    fn count_in_quota(&mut self, path: &str, count: i64, bytes: i64) {
        if count > 0
            && let Some(quota_path) = quota::counted_by_stats_node(path)
        {
            // A new stats node starts from what its subtree holds, as in ZooKeeper.
            let quota_path = quota_path.to_owned();
            self.recount_quota(&quota_path);
        }
        let Some(quota_path) = quota::covering(self, path) else {
            return;
        };
        self.update(&quota::stats_path(&quota_path), |stats| {
            let text = quota::add_to_stats(stats.data().unwrap_or_default(), count, bytes);
            // Only the data changes: ZooKeeper rewrites the stats in place, no version or zxid.
            stats.set_data(Some(text.as_bytes()));
        });
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::acl::{acl, open_acl_unsafe};

    #[test]
    fn equal_acl_lists_share_one_allocation() {
        let a = intern_acl(&open_acl_unsafe());
        let b = intern_acl(&open_acl_unsafe());
        assert!(Arc::ptr_eq(&a, &b));
        let other = intern_acl(&[acl(1, "world", "anyone")]);
        assert!(!Arc::ptr_eq(&a, &other));
        let root = DataTree::new();
        assert!(Arc::ptr_eq(&root.get("/").unwrap().acl, &a));
    }

    fn header(zxid: i64) -> TxnHeader {
        TxnHeader {
            session_id: 1,
            cxid: 0,
            zxid,
            time: zxid,
        }
    }

    /// Applies `txn` as the transaction after the tree's last one.
    fn run(tree: &mut DataTree, txn: Txn) {
        let zxid = tree.last_zxid() + 1;
        tree.apply(&header(zxid), &txn);
    }

    fn delete_txn(path: &str) -> Txn {
        Txn::Delete { path: path.into() }
    }

    fn create(path: &str) -> Txn {
        Txn::Create {
            path: path.into(),
            data: None,
            acl: intern_acl(&open_acl_unsafe()),
            owner: 0,
            parent_cversion: 1,
        }
    }

    /// Every kind of change keeps the tree's digest equal to the sum over its nodes, and the
    /// digest after every 128th transaction is recorded.
    #[test]
    fn the_digest_follows_every_kind_of_change() {
        let mut tree = DataTree::new();
        let check = |tree: &DataTree, what: &str| {
            assert_eq!(
                tree.digest(),
                crate::digest::recomputed(tree),
                "after {what}"
            );
        };
        check(&tree, "start");
        let quota = "/zookeeper/quota/app/zookeeper_limits";
        for txn in [
            create("/app"),
            create("/zookeeper/quota/app"),
            Txn::Create {
                path: quota.into(),
                data: Some(Bytes::from_static(b"count=5,bytes=-1")),
                acl: intern_acl(&open_acl_unsafe()),
                owner: 0,
                parent_cversion: 1,
            },
            create("/app/a"),
            Txn::CreateSession { timeout: 4000 },
            Txn::Create {
                path: "/app/eph".into(),
                data: Some(Bytes::from_static(b"e")),
                acl: intern_acl(&open_acl_unsafe()),
                owner: 1,
                parent_cversion: 3,
            },
            Txn::SetData {
                path: "/".into(),
                data: Some(Bytes::from_static(b"root")),
                version: 1,
            },
            Txn::SetAcl {
                path: "/app/a".into(),
                acl: intern_acl(&[acl(1, "world", "anyone")]),
                version: 1,
            },
            Txn::Multi(vec![
                create("/app/b"),
                delete_txn("/app/a"),
                Txn::SetData {
                    path: "/app".into(),
                    data: Some(Bytes::from_static(b"x")),
                    version: 1,
                },
            ]),
            Txn::CloseSession {
                ephemerals: vec!["/app/eph".into()],
            },
            delete_txn("/app/gone"),
            Txn::Reconfig {
                config: Bytes::from_static(b"server.1=localhost:2888:3888"),
            },
        ] {
            let what = format!("{txn:?}");
            run(&mut tree, txn);
            check(&tree, &what);
        }
        tree.set_config(b"server.2=elsewhere", 7, 9);
        tree.recount_quotas();
        check(&tree, "the configuration and the quotas rewritten");
        assert!(tree.digest_log().next().is_none());
        while tree.last_zxid() < 256 {
            let zxid = tree.last_zxid() + 1;
            run(
                &mut tree,
                Txn::SetData {
                    path: "/app/b".into(),
                    data: Some(Bytes::from(zxid.to_string())),
                    version: 1,
                },
            );
            if zxid == 128 {
                assert_eq!(tree.digest_log().last().map(|d| d.zxid), Some(128));
            }
        }
        let log: Vec<_> = tree.digest_log().collect();
        assert_eq!(log.len(), 2);
        assert_eq!(
            log[1],
            ZxidDigest {
                zxid: 256,
                digest: tree.digest()
            }
        );
        assert_ne!(log[0].digest, log[1].digest);
        check(&tree, "the writes");
    }

    /// Parents first (as older snapshots list nodes) or in any other order, the builder links
    /// the same tree.
    #[test]
    fn the_builder_links_nodes_in_any_order() {
        let mut tree = DataTree::new();
        let paths = ["/a", "/a/x", "/a/x/1", "/a/y", "/b", "/b/z", "/c"];
        for (zxid, path) in (1..).zip(paths) {
            tree.apply(&header(zxid), &create(path));
        }
        let nodes: Vec<Node> = tree.walk().map(|(_, n)| n.clone()).collect();
        let mut orders = vec![nodes.clone(), nodes.iter().rev().cloned().collect()];
        let mut mixed = nodes.clone();
        mixed.swap(2, 5);
        mixed.swap(1, 7);
        orders.push(mixed);
        for order in orders {
            let mut builder = TreeBuilder::new(tree.last_zxid(), StdHashMap::new(), 4);
            for node in &order {
                builder.add(node.clone()).unwrap();
            }
            let (built, dropped) = builder.finish().unwrap();
            assert_eq!(dropped, 0);
            let rebuilt: Vec<Node> = built.walk().map(|(_, n)| n.clone()).collect();
            assert_eq!(rebuilt, nodes);
        }
    }

    /// A node whose parent a fuzzy snapshot missed is left out, with everything under it; a
    /// snapshot without a root or with a node twice is refused.
    #[test]
    fn the_builder_drops_orphans_and_refuses_broken_input() {
        let node = |path: &str| Node::new(path, None, intern_acl(&open_acl_unsafe()), 0, 1, 1);
        let mut builder = TreeBuilder::new(0, StdHashMap::new(), 4);
        for path in ["/gone/child/leaf", "/", "/gone/child", "/kept"] {
            builder.add(node(path)).unwrap();
        }
        let (tree, dropped) = builder.finish().unwrap();
        assert_eq!(dropped, 2);
        assert_eq!(tree.node_count(), 2);
        assert_eq!(tree.child_names("/"), ["kept"]);
        assert_eq!(tree.get("/").unwrap().num_children, 1);

        let mut rootless = TreeBuilder::new(0, StdHashMap::new(), 4);
        rootless.add(node("/a")).unwrap();
        assert!(rootless.finish().is_err());
        let mut twice = TreeBuilder::new(0, StdHashMap::new(), 4);
        twice.add(node("/")).unwrap();
        assert!(twice.add(node("/")).is_err());
    }

    /// Deleting and creating reuses slots; children, counts and lookups stay right.
    #[test]
    fn slots_are_reused_and_children_stay_linked() {
        let mut tree = DataTree::new();
        for name in ["a", "b", "c", "d"] {
            run(&mut tree, create(&format!("/{name}")));
        }
        let slots = tree.slots.len();
        run(&mut tree, delete_txn("/b"));
        run(&mut tree, delete_txn("/d"));
        run(&mut tree, create("/c/x"));
        run(&mut tree, create("/e"));
        assert_eq!(tree.slots.len(), slots, "freed slots are reused");
        assert_eq!(tree.child_names("/"), ["a", "c", "e", "zookeeper"]);
        assert_eq!(tree.child_names("/c"), ["x"]);
        assert_eq!(tree.get("/").unwrap().num_children, 4);
        assert!(tree.get("/b").is_none() && tree.get("/d").is_none());
        assert_eq!(tree.get("/c/x").unwrap().path(), "/c/x");
        assert_eq!(tree.descendant_count("/"), 7);
        let mut cursor = WalkCursor::default();
        let mut seen = Vec::new();
        while tree.walk_some(&mut cursor, 2, |node| seen.push(node.path().to_owned())) {}
        seen.sort();
        assert_eq!(
            seen,
            [
                "/",
                "/a",
                "/c",
                "/c/x",
                "/e",
                "/zookeeper",
                "/zookeeper/config",
                "/zookeeper/quota"
            ]
        );
    }

    fn create_with(path: &str, data: &[u8]) -> Txn {
        Txn::Create {
            path: path.into(),
            data: Some(Bytes::copy_from_slice(data)),
            acl: intern_acl(&open_acl_unsafe()),
            owner: 0,
            parent_cversion: 1,
        }
    }

    fn stats_of(tree: &DataTree, quota_path: &str) -> String {
        let node = tree.get(&quota::stats_path(quota_path)).unwrap();
        String::from_utf8(node.data().unwrap().to_vec()).unwrap()
    }

    /// The committed tree keeps a quota's stats node in step with its subtree, as zkCli's
    /// `listquota` reads it; replays of what the tree already holds change nothing.
    #[test]
    fn a_quotas_stats_follow_creates_sets_and_deletes_under_it() {
        let mut tree = DataTree::new();
        run(&mut tree, create_with("/app", b"12345"));
        run(&mut tree, create_with("/app/a", b"xy"));
        run(&mut tree, create("/zookeeper/quota/app"));
        run(
            &mut tree,
            create_with("/zookeeper/quota/app/zookeeper_limits", b"count=3,bytes=-1"),
        );
        run(
            &mut tree,
            create_with("/zookeeper/quota/app/zookeeper_stats", b"count=0,bytes=0"),
        );
        assert_eq!(
            stats_of(&tree, "/app"),
            "count=2,bytes=7",
            "counted when created"
        );
        let stats_stat = tree.get(&quota::stats_path("/app")).unwrap().stat();

        run(&mut tree, create_with("/app/b", b"abc"));
        run(&mut tree, create("/other"));
        assert_eq!(stats_of(&tree, "/app"), "count=3,bytes=10");
        let replayed = create_with("/app/b", b"abc");
        tree.apply(&header(tree.last_zxid()), &replayed);
        assert_eq!(
            stats_of(&tree, "/app"),
            "count=3,bytes=10",
            "a replayed create"
        );

        let set = |data: &[u8]| Txn::SetData {
            path: "/app/a".into(),
            data: Some(Bytes::copy_from_slice(data)),
            version: 1,
        };
        run(&mut tree, set(b"longer data"));
        assert_eq!(stats_of(&tree, "/app"), "count=3,bytes=19");
        tree.apply(&header(tree.last_zxid()), &set(b"longer data"));
        assert_eq!(
            stats_of(&tree, "/app"),
            "count=3,bytes=19",
            "a replayed set"
        );

        run(&mut tree, delete_txn("/app/b"));
        run(&mut tree, delete_txn("/app/b"));
        assert_eq!(stats_of(&tree, "/app"), "count=2,bytes=16");
        let stat = tree.get(&quota::stats_path("/app")).unwrap().stat();
        assert_eq!(
            (stat.version, stat.mzxid, stat.czxid),
            (stats_stat.version, stats_stat.mzxid, stats_stat.czxid),
            "only the stats node's data changes"
        );

        tree.update(&quota::stats_path("/app"), |stats| {
            stats.set_data(Some(b"count=99,bytes=99"));
        });
        tree.recount_quotas();
        assert_eq!(stats_of(&tree, "/app"), "count=2,bytes=16", "recounted");

        run(
            &mut tree,
            delete_txn("/zookeeper/quota/app/zookeeper_limits"),
        );
        run(&mut tree, create("/app/c"));
        assert_eq!(
            stats_of(&tree, "/app"),
            "count=2,bytes=16",
            "no limits, no quota"
        );
    }

    /// The configuration is written in place, keeping the node's identity and its parent's
    /// counters: it is not a transaction.
    #[test]
    fn an_ensembles_configuration_is_written_into_zookeeper_config() {
        let mut tree = DataTree::new();
        let parent_before = tree.get("/zookeeper").unwrap().stat();
        tree.set_config(b"server.1=h:1:2:participant\nversion=0", 0, 77);
        tree.set_config(b"server.1=h:1:2:participant\nversion=5", 5, 78);
        let node = tree.get(CONFIG_PATH).unwrap();
        assert_eq!(
            node.data(),
            Some(&b"server.1=h:1:2:participant\nversion=5"[..])
        );
        let stat = node.stat();
        assert_eq!(
            (stat.version, stat.aversion, stat.mzxid, stat.mtime),
            (-1, -1, 5, 78)
        );
        assert_eq!(tree.get("/zookeeper").unwrap().stat(), parent_before);
        assert_eq!(tree.last_zxid(), 0);
    }

    /// A first child is unlinked through its parent, found by path; the list stays whole.
    #[test]
    fn deleting_any_child_keeps_the_others_listed() {
        let mut tree = DataTree::new();
        run(&mut tree, create("/p"));
        for name in ["a", "b", "c", "d", "e"] {
            run(&mut tree, create(&format!("/p/{name}")));
        }
        // Newest first: e is the first child, a the last.
        for gone in ["e", "c", "a", "d"] {
            run(&mut tree, delete_txn(&format!("/p/{gone}")));
        }
        assert_eq!(tree.child_names("/p"), ["b"]);
        run(&mut tree, create("/p/f"));
        assert_eq!(tree.child_names("/p"), ["b", "f"]);
        assert_eq!(tree.get("/p").unwrap().num_children, 2);
        run(&mut tree, delete_txn("/p/f"));
        run(&mut tree, delete_txn("/p/b"));
        assert!(tree.child_names("/p").is_empty());
        assert_eq!(tree.descendant_count("/p"), 0);
    }

    /// Path and data share one allocation; null data is not empty data.
    #[test]
    fn a_node_keeps_path_and_data_apart() {
        let acl = intern_acl(&open_acl_unsafe());
        let mut node = Node::new("/a/b", Some(b"xyz"), acl.clone(), 0, 1, 1);
        assert_eq!((node.path(), node.data()), ("/a/b", Some(&b"xyz"[..])));
        node.set_data(None);
        assert_eq!((node.path(), node.data()), ("/a/b", None));
        node.set_data(Some(b""));
        assert_eq!(node.data(), Some(&b""[..]));
        assert_eq!(node.stat().data_length, 0);
        node.set_data(Some(b"abc"));
        node.set_data(Some(b"def"));
        assert_eq!((node.path(), node.data()), ("/a/b", Some(&b"def"[..])));
        node.set_data(Some(b"longer"));
        assert_eq!((node.path(), node.data()), ("/a/b", Some(&b"longer"[..])));
        // What a znode costs beside its allocation: the memory target depends on it.
        assert!(std::mem::size_of::<Option<Slot>>() <= 96);
        // An owner rides in the allocation, ahead of the path, through every change of data.
        let acl = node.acl.clone();
        let mut owned = Node::new("/e", Some(b"v"), acl, 0x55, 1, 2);
        assert_eq!(
            (owned.owner(), owned.path(), owned.data()),
            (0x55, "/e", Some(&b"v"[..]))
        );
        owned.set_data(Some(b"w"));
        owned.set_data(None);
        assert_eq!(
            (owned.owner(), owned.path(), owned.data()),
            (0x55, "/e", None)
        );
        owned.set_data(Some(b"longer"));
        assert_eq!(owned.kind(), NodeKind::Ephemeral(0x55));
        owned.set_owner(0);
        assert_eq!(
            (owned.owner(), owned.path(), owned.data()),
            (0, "/e", Some(&b"longer"[..]))
        );
        owned.set_owner(-7);
        assert_eq!(
            (owned.owner(), owned.path(), owned.data()),
            (-7, "/e", Some(&b"longer"[..]))
        );
    }
}
