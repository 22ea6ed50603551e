//! The data tree: znodes, their Stats, the session table and the ephemeral index.
//!
//! One mutable tree holds what is committed; readers share it behind the database's lock. The
//! write path checks each request against the committed tree plus the writes prepared before it
//! ([`crate::pending`], ZooKeeper's "outstanding changes"). Both apply transactions with the same
//! code, [`apply`], written against the small set of edits in [`TreeEdit`].

use std::collections::{BTreeSet, HashMap as StdHashMap};
use std::ops::Bound;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use bytes::Bytes;
use hashbrown::HashMap;
use zk_proto::{Acl, Stat};

use crate::acl::open_acl_unsafe;
use crate::path;
use crate::txn::{Txn, TxnHeader};

/// ACL lists shared by every node that has the same list, as ZooKeeper's ACL cache does: most
/// trees use a handful of lists, so a node then holds one pointer instead of its own copy.
pub fn intern_acl(acl: &[Acl]) -> Arc<[Acl]> {
    static CACHE: LazyLock<Mutex<AclCache>> = LazyLock::new(Mutex::default);
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    cache.intern(acl)
}

#[derive(Debug, Default)]
struct AclCache {
    lists: StdHashMap<Vec<Acl>, Weak<[Acl]>>,
    /// Size at which dead entries are dropped next.
    purge_at: usize,
    /// The list interned last: most writes in a row carry the same one, and comparing it is
    /// cheaper than hashing.
    last: Option<Arc<[Acl]>>,
}

impl AclCache {
    fn intern(&mut self, acl: &[Acl]) -> Arc<[Acl]> {
        if let Some(last) = self.last.as_ref().filter(|last| ***last == *acl) {
            return last.clone();
        }
        let shared = self.lookup_or_insert(acl);
        self.last = Some(shared.clone());
        shared
    }

    fn lookup_or_insert(&mut self, acl: &[Acl]) -> Arc<[Acl]> {
        if let Some(shared) = self.lists.get(acl).and_then(Weak::upgrade) {
            return shared;
        }
        let shared: Arc<[Acl]> = Arc::from(acl);
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

/// One znode's data and Stat fields. Its children live beside it in the tree, so that the write
/// path can copy a node cheaply (see [`crate::pending`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub data: Option<Bytes>,
    pub acl: Arc<[Acl]>,
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    /// ZooKeeper's persisted cversion: the number of children ever created here. Clients see
    /// `2 * cversion - numChildren` (client-protocol §8.3).
    pub cversion: i32,
    pub aversion: i32,
    /// Raw ephemeralOwner, container/TTL markers included.
    pub owner: i64,
    pub pzxid: i64,
    pub num_children: i32,
}

impl Node {
    pub fn new(data: Option<Bytes>, acl: Arc<[Acl]>, owner: i64, zxid: i64, time: i64) -> Self {
        Node {
            data,
            acl,
            czxid: zxid,
            mzxid: zxid,
            ctime: time,
            mtime: time,
            version: 0,
            cversion: 0,
            aversion: 0,
            owner,
            pzxid: zxid,
            num_children: 0,
        }
    }

    pub fn kind(&self) -> NodeKind {
        NodeKind::from_owner(self.owner)
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
                .data
                .as_ref()
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
    Deleted(Arc<str>, Arc<[Acl]>),
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
    /// A node to change in place, with the path as the tree shares it.
    fn node_mut(&mut self, path: &str) -> Option<(Arc<str>, &mut Node)>;
    /// Adds a node whose parent exists and which does not; returns its shared path.
    fn add_node(&mut self, path: &str, node: Node) -> Arc<str>;
    fn remove_node(&mut self, path: &str) -> Option<(Arc<str>, Node)>;
    fn set_session(&mut self, session: i64, timeout: Option<i32>);
    fn set_last_zxid(&mut self, zxid: i64);
}

/// Applies a committed (or prepared) transaction. Errors are ignored, as in ZooKeeper's replay:
/// a transaction records resulting state, so re-applying one is harmless. Returns the node
/// changes, in the order watches must see them.
pub fn apply<T: TreeEdit + ?Sized>(tree: &mut T, header: &TxnHeader, txn: &Txn) -> Vec<Change> {
    let mut changes = Vec::new();
    apply_into(tree, header, txn, &mut changes);
    if header.zxid > tree.last_zxid() {
        tree.set_last_zxid(header.zxid);
    }
    changes
}

fn apply_into<T: TreeEdit + ?Sized>(
    tree: &mut T,
    header: &TxnHeader,
    txn: &Txn,
    changes: &mut Vec<Change>,
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
            let Some((_, parent)) = tree.node_mut(parent_path) else {
                return;
            };
            // A create replayed on top of a snapshot that already has the node still moves the
            // parent's cversion/pzxid forward (quorum §9.5).
            if *parent_cversion > parent.cversion {
                parent.cversion = *parent_cversion;
                parent.pzxid = zxid;
            }
            if exists {
                return;
            }
            parent.num_children = parent.num_children.saturating_add(1);
            let node = Node::new(
                data.as_ref().map(|d| Bytes::copy_from_slice(d)),
                intern_acl(acl),
                *owner,
                zxid,
                header.time,
            );
            changes.push(Change::Created(tree.add_node(path, node)));
        }
        Txn::Delete { path } => delete(tree, path, zxid, changes),
        Txn::SetData {
            path,
            data,
            version,
        } => {
            if let Some((key, node)) = tree.node_mut(path) {
                node.data = data.as_ref().map(|d| Bytes::copy_from_slice(d));
                node.version = *version;
                node.mzxid = zxid;
                node.mtime = header.time;
                changes.push(Change::DataChanged(key));
            }
        }
        Txn::SetAcl { path, acl, version } => {
            if let Some((_, node)) = tree.node_mut(path) {
                node.acl = intern_acl(acl);
                node.aversion = *version;
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

fn delete<T: TreeEdit + ?Sized>(tree: &mut T, path: &str, zxid: i64, changes: &mut Vec<Change>) {
    let Some((key, node)) = tree.remove_node(path) else {
        return;
    };
    if let Some((parent_path, _)) = path::split_parent(path)
        && let Some((_, parent)) = tree.node_mut(parent_path)
    {
        parent.num_children = parent.num_children.saturating_sub(1).max(0);
        if zxid > parent.pzxid {
            parent.pzxid = zxid;
        }
    }
    changes.push(Change::Deleted(key, node.acl));
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

/// A node of the committed tree and the full paths of its children (sharing the allocation of
/// the tree's keys), sorted.
#[derive(Debug, Clone)]
struct Entry {
    node: Node,
    children: BTreeSet<Arc<str>>,
}

/// The committed database state.
#[derive(Debug, Clone)]
pub struct DataTree {
    nodes: HashMap<Arc<str>, Entry>,
    /// Session id → negotiated timeout, for every open session.
    sessions: StdHashMap<i64, i32>,
    ephemerals: StdHashMap<i64, BTreeSet<Arc<str>>>,
    /// Container and TTL nodes, which the reaper visits.
    reapable: BTreeSet<Arc<str>>,
    last_zxid: i64,
}

impl Default for DataTree {
    fn default() -> Self {
        Self::new()
    }
}

impl DataTree {
    fn empty(last_zxid: i64) -> Self {
        DataTree {
            nodes: HashMap::new(),
            sessions: StdHashMap::new(),
            ephemerals: StdHashMap::new(),
            reapable: BTreeSet::new(),
            last_zxid,
        }
    }

    /// A fresh tree: `/`, `/zookeeper`, `/zookeeper/quota` and `/zookeeper/config`.
    pub fn new() -> Self {
        let mut tree = DataTree::empty(0);
        let open = intern_acl(&open_acl_unsafe());
        let read_only = intern_acl(&[crate::acl::acl(zk_proto::Perms::READ, "world", "anyone")]);
        let empty = Some(Bytes::new());
        tree.insert_builtin("/", Node::new(empty.clone(), open.clone(), 0, 0, 0));
        tree.insert_builtin(
            "/zookeeper",
            Node::new(empty.clone(), open.clone(), 0, 0, 0),
        );
        tree.insert_builtin("/zookeeper/quota", Node::new(empty.clone(), open, 0, 0, 0));
        let mut config = Node::new(empty, read_only, 0, 0, 0);
        config.aversion = -1;
        tree.insert_builtin("/zookeeper/config", config);
        tree
    }

    /// Inserts a node at start-up without counting it in the parent's cversion, as ZooKeeper does
    /// for its built-in nodes (hence cversion -1 on `/` and -2 on `/zookeeper`).
    fn insert_builtin(&mut self, path: &str, node: Node) {
        if path != "/"
            && let Some((parent, _)) = path::split_parent(path)
            && let Some(parent) = self.nodes.get_mut(parent)
        {
            parent.node.num_children += 1;
        }
        self.add_node(path, node);
    }

    pub fn apply(&mut self, header: &TxnHeader, txn: &Txn) -> Vec<Change> {
        apply(self, header, txn)
    }

    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    /// Looks a node up; `""` is an alias of `/` as in ZooKeeper.
    pub fn get(&self, path: &str) -> Option<&Node> {
        let path = if path.is_empty() { "/" } else { path };
        self.nodes.get(path).map(|entry| &entry.node)
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

    /// Children of a node as full paths, sorted.
    pub fn children(&self, path: &str) -> Option<&BTreeSet<Arc<str>>> {
        let path = if path.is_empty() { "/" } else { path };
        self.nodes.get(path).map(|entry| &entry.children)
    }

    /// Child names (last path component), in sorted order.
    pub fn child_names(&self, path: &str) -> Vec<String> {
        self.children(path)
            .map(|children| {
                children
                    .iter()
                    .map(|child| path::name_of(child).to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Number of znodes (ZooKeeper counts `/` twice, so `Node count` adds one).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// All descendants of a node, the node itself not counted.
    pub fn descendant_count(&self, path: &str) -> usize {
        let Some(children) = self.children(path) else {
            return 0;
        };
        let mut count = 0;
        let mut stack: Vec<&Arc<str>> = children.iter().collect();
        while let Some(child) = stack.pop() {
            count += 1;
            if let Some(entry) = self.nodes.get(&**child) {
                stack.extend(entry.children.iter());
            }
        }
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
        self.reapable.iter().filter_map(|path| {
            self.nodes
                .get_key_value(&**path)
                .map(|(key, entry)| (key, &entry.node))
        })
    }

    /// Every node, parents before children (for tests comparing whole trees).
    #[cfg(test)]
    pub fn walk(&self) -> impl Iterator<Item = (Arc<str>, &Node)> + '_ {
        let mut cursor = WalkCursor::default();
        std::iter::from_fn(move || {
            let mut next = None;
            self.walk_some(&mut cursor, 1, |path, _| next = Some(path.clone()));
            let path = next?;
            let node = &self.nodes.get(&*path)?.node;
            Some((path, node))
        })
    }

    /// Visits up to `limit` more nodes of a walk that may span changes to the tree (a fuzzy
    /// snapshot): parents always come before their children, a node removed since its parent
    /// was visited is skipped, and one added under a visited parent may be missed (the log's
    /// later transactions bring it back). Returns false once the walk is complete.
    pub fn walk_some(
        &self,
        cursor: &mut WalkCursor,
        limit: usize,
        mut visit: impl FnMut(&Arc<str>, &Node),
    ) -> bool {
        let mut visited = 0;
        if !cursor.started {
            cursor.started = true;
            let Some((key, entry)) = self.nodes.get_key_value("/") else {
                return false;
            };
            visit(key, &entry.node);
            visited += 1;
            cursor.stack.push((key.clone(), None));
        }
        while visited < limit {
            let Some((parent, after)) = cursor.stack.last_mut() else {
                return false;
            };
            let Some(entry) = self.nodes.get(&**parent) else {
                cursor.stack.pop();
                continue;
            };
            let siblings = match after {
                None => entry.children.range::<Arc<str>, _>(..),
                Some(after) => entry
                    .children
                    .range::<Arc<str>, _>((Bound::Excluded(&*after), Bound::Unbounded)),
            };
            // Runs along the siblings without looking the parent up again; only a child with
            // children of its own is stepped into (pushed).
            let mut last = None;
            let mut descend = None;
            let mut exhausted = true;
            for child in siblings {
                if visited >= limit {
                    exhausted = false;
                    break;
                }
                last = Some(child);
                if let Some(child_entry) = self.nodes.get(&**child) {
                    visit(child, &child_entry.node);
                    visited += 1;
                    if !child_entry.children.is_empty() {
                        descend = Some(child.clone());
                        exhausted = false;
                        break;
                    }
                }
            }
            if let Some(last) = last {
                *after = Some(last.clone());
            }
            if let Some(child) = descend {
                cursor.stack.push((child, None));
            } else if exhausted {
                cursor.stack.pop();
            }
        }
        !cursor.stack.is_empty()
    }
}

/// Rebuilds a tree from a snapshot's nodes. Snapshots list them depth first with children in
/// order, so the builder keeps the path from the root to the last node and gathers each
/// parent's children in a vector, turned into its set (a bulk build) when the walk leaves it:
/// one hash insert per node and one lookup per parent. Nodes in any other order still work,
/// one ordinary insert each.
#[derive(Debug)]
pub struct TreeBuilder {
    tree: DataTree,
    /// The ancestors of the last node added, and the last node itself, each with the children
    /// seen so far.
    open: Vec<(Arc<str>, Vec<Arc<str>>)>,
    /// Nodes whose parent had been closed (input not depth first), linked at the end.
    stragglers: Vec<Arc<str>>,
}

impl TreeBuilder {
    /// `capacity`: the number of nodes expected (a hint).
    pub fn new(last_zxid: i64, sessions: StdHashMap<i64, i32>, capacity: usize) -> Self {
        let mut tree = DataTree::empty(last_zxid);
        tree.sessions = sessions;
        tree.nodes.reserve(capacity);
        TreeBuilder {
            tree,
            open: Vec::new(),
            stragglers: Vec::new(),
        }
    }

    pub fn add(&mut self, path: &str, mut node: Node) -> Result<(), String> {
        node.num_children = 0;
        let key: Arc<str> = Arc::from(path);
        match node.kind() {
            NodeKind::Ephemeral(session) => {
                let set = self.tree.ephemerals.entry(session).or_default();
                set.insert(key.clone());
            }
            NodeKind::Container | NodeKind::Ttl(_) => {
                self.tree.reapable.insert(key.clone());
            }
            NodeKind::Persistent => {}
        }
        let entry = Entry {
            node,
            children: BTreeSet::new(),
        };
        if self.tree.nodes.insert(key.clone(), entry).is_some() {
            return Err(format!("snapshot node {path:?} appears twice"));
        }
        if path == "/" {
            self.close_to(0);
            self.open.push((key, Vec::new()));
            return Ok(());
        }
        let parent = path::split_parent(path)
            .map(|(parent, _)| parent)
            .ok_or_else(|| format!("snapshot node {path:?} has no parent"))?;
        match self.open.iter().rposition(|(open, _)| &**open == parent) {
            Some(at) => {
                self.close_to(at + 1);
                self.open[at].1.push(key.clone());
                self.open.push((key, Vec::new()));
            }
            None => self.stragglers.push(key),
        }
        Ok(())
    }

    /// Links the children gathered for every open node above depth `depth`, deepest first.
    fn close_to(&mut self, depth: usize) {
        while self.open.len() > depth {
            let Some((path, children)) = self.open.pop() else {
                break;
            };
            if children.is_empty() {
                continue;
            }
            if let Some(entry) = self.tree.nodes.get_mut(&*path) {
                entry.node.num_children = i32::try_from(children.len()).unwrap_or(i32::MAX);
                entry.children = children.into_iter().collect();
            }
        }
    }

    /// Links what is left; fails on a node without a parent.
    pub fn finish(mut self) -> Result<DataTree, String> {
        self.close_to(0);
        let mut tree = self.tree;
        if !tree.nodes.contains_key("/") {
            return Err("snapshot has no root node".into());
        }
        for path in self.stragglers {
            let parent = path::split_parent(&path)
                .and_then(|(parent, _)| tree.nodes.get_mut(parent))
                .ok_or_else(|| format!("snapshot node {path:?} has no parent"))?;
            if parent.children.insert(path) {
                parent.node.num_children = parent.node.num_children.saturating_add(1);
            }
        }
        Ok(tree)
    }
}

/// Where a [`DataTree::walk_some`] walk stands: the path from the root to the node visited
/// last, with the last child visited under each.
#[derive(Debug, Default)]
pub struct WalkCursor {
    started: bool,
    stack: Vec<(Arc<str>, Option<Arc<str>>)>,
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
    fn node_mut(&mut self, path: &str) -> Option<(Arc<str>, &mut Node)> {
        let path = if path.is_empty() { "/" } else { path };
        let (key, entry) = self.nodes.get_key_value_mut(path)?;
        Some((key.clone(), &mut entry.node))
    }

    fn add_node(&mut self, path: &str, node: Node) -> Arc<str> {
        let key: Arc<str> = Arc::from(path);
        if path != "/"
            && let Some((parent, _)) = path::split_parent(path)
            && let Some(parent) = self.nodes.get_mut(parent)
        {
            parent.children.insert(key.clone());
        }
        match node.kind() {
            NodeKind::Ephemeral(session) => {
                self.ephemerals
                    .entry(session)
                    .or_default()
                    .insert(key.clone());
            }
            NodeKind::Container | NodeKind::Ttl(_) => {
                self.reapable.insert(key.clone());
            }
            NodeKind::Persistent => {}
        }
        let entry = Entry {
            node,
            children: BTreeSet::new(),
        };
        self.nodes.insert(key.clone(), entry);
        key
    }

    fn remove_node(&mut self, path: &str) -> Option<(Arc<str>, Node)> {
        let (key, entry) = self.nodes.remove_entry(path)?;
        if let Some((parent, _)) = path::split_parent(path)
            && let Some(parent) = self.nodes.get_mut(parent)
        {
            parent.children.remove(path);
        }
        match entry.node.kind() {
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
        Some((key, entry.node))
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
}

#[cfg(test)]
mod tests {
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

    /// Depth first (as snapshots list nodes) or in any other order, the builder links the same
    /// tree; a node without its parent is refused.
    #[test]
    fn the_builder_links_nodes_in_any_order() {
        let mut tree = DataTree::new();
        let paths = ["/a", "/a/x", "/a/x/1", "/a/y", "/b", "/b/z", "/c"];
        for (zxid, path) in (1..).zip(paths) {
            let header = TxnHeader {
                session_id: 1,
                cxid: 0,
                zxid,
                time: zxid,
            };
            let txn = Txn::Create {
                path: path.into(),
                data: None,
                acl: open_acl_unsafe(),
                owner: 0,
                parent_cversion: 1,
            };
            tree.apply(&header, &txn);
        }
        let nodes: Vec<(Arc<str>, Node)> = tree.walk().map(|(p, n)| (p, n.clone())).collect();
        let mut orders = vec![nodes.clone(), nodes.iter().rev().cloned().collect()];
        let mut mixed = nodes.clone();
        mixed.swap(2, 5);
        mixed.swap(1, 7);
        orders.push(mixed);
        for order in orders {
            let mut builder = TreeBuilder::new(tree.last_zxid(), StdHashMap::new(), 4);
            for (path, node) in &order {
                builder.add(path, node.clone()).unwrap();
            }
            let built = builder.finish().unwrap();
            let rebuilt: Vec<(Arc<str>, Node)> =
                built.walk().map(|(p, n)| (p, n.clone())).collect();
            assert_eq!(rebuilt, nodes);
        }
        let mut orphan = TreeBuilder::new(0, StdHashMap::new(), 4);
        orphan.add("/", nodes[0].1.clone()).unwrap();
        orphan.add("/missing/child", nodes[1].1.clone()).unwrap();
        assert!(orphan.finish().is_err());
    }
}
