//! The data tree: znodes, their Stats, the session table and the ephemeral index.
//!
//! Built on persistent (structurally shared) maps, so that cloning a whole tree is O(1). The write
//! path applies each transaction to its own "prepared" copy as soon as it is prepared, keeps that
//! version until the transaction commits, and then publishes it to readers. Readers therefore never
//! see uncommitted data, the next request is checked against every earlier one (ZooKeeper's
//! "outstanding changes" without a second copy of the logic), and a snapshot is just a clone
//! serialised on another thread.

use std::collections::HashMap as StdHashMap;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use bytes::Bytes;
use imbl::{HashMap, OrdSet};
use zk_proto::{Acl, ErrorCode, Stat};

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
}

impl AclCache {
    fn intern(&mut self, acl: &[Acl]) -> Arc<[Acl]> {
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

/// One znode. Children are held as full paths that share the allocation of the tree's keys.
#[derive(Debug, Clone)]
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
    pub children: OrdSet<Arc<str>>,
}

impl Node {
    fn new(data: Option<Bytes>, acl: Arc<[Acl]>, owner: i64, zxid: i64, time: i64) -> Self {
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
            children: OrdSet::new(),
        }
    }

    pub fn kind(&self) -> NodeKind {
        NodeKind::from_owner(self.owner)
    }

    pub fn num_children(&self) -> i32 {
        i32::try_from(self.children.len()).unwrap_or(i32::MAX)
    }

    /// The Stat clients see.
    pub fn stat(&self) -> Stat {
        let num_children = self.num_children();
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

    /// Child names (last path component), in sorted order.
    pub fn child_names(&self) -> Vec<String> {
        self.children
            .iter()
            .map(|child| path::name_of(child).to_owned())
            .collect()
    }
}

/// A change to one node, as watches see it. Creation and deletion also change the parent's
/// children; the watch manager derives that event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Created(Arc<str>),
    Deleted(Arc<str>),
    DataChanged(Arc<str>),
}

/// The whole database state at one zxid.
#[derive(Debug, Clone)]
pub struct DataTree {
    nodes: HashMap<Arc<str>, Arc<Node>>,
    /// Session id → negotiated timeout, for every open session.
    sessions: HashMap<i64, i32>,
    ephemerals: HashMap<i64, OrdSet<Arc<str>>>,
    /// Container and TTL nodes, which the reaper visits.
    reapable: OrdSet<Arc<str>>,
    last_zxid: i64,
}

impl Default for DataTree {
    fn default() -> Self {
        Self::new()
    }
}

impl DataTree {
    /// A fresh tree: `/`, `/zookeeper`, `/zookeeper/quota` and `/zookeeper/config`.
    pub fn new() -> Self {
        let mut tree = DataTree {
            nodes: HashMap::new(),
            sessions: HashMap::new(),
            ephemerals: HashMap::new(),
            reapable: OrdSet::new(),
            last_zxid: 0,
        };
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
        let key: Arc<str> = Arc::from(path);
        if let Some((parent, _)) = path::split_parent(path).filter(|_| path != "/")
            && let Some(parent) = self.nodes.get_mut(parent)
        {
            Arc::make_mut(parent).children.insert(key.clone());
        }
        self.nodes.insert(key, Arc::new(node));
    }

    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    /// Looks a node up; `""` is an alias of `/` as in ZooKeeper.
    pub fn get(&self, path: &str) -> Option<&Arc<Node>> {
        let path = if path.is_empty() { "/" } else { path };
        self.nodes.get(path)
    }

    /// The interned key of a path, shared with the tree.
    fn key(&self, path: &str) -> Option<Arc<str>> {
        self.get(path)
            .and_then(|_| self.nodes.get_key_value(path).map(|(k, _)| k.clone()))
    }

    /// Number of znodes (ZooKeeper counts `/` twice, so `Node count` adds one).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// All descendants of a node, the node itself not counted.
    pub fn descendant_count(&self, path: &str) -> usize {
        let Some(node) = self.get(path) else {
            return 0;
        };
        let mut count = 0;
        let mut stack: Vec<Arc<str>> = node.children.iter().cloned().collect();
        while let Some(child) = stack.pop() {
            count += 1;
            if let Some(node) = self.nodes.get(&*child) {
                stack.extend(node.children.iter().cloned());
            }
        }
        count
    }

    pub fn sessions(&self) -> impl Iterator<Item = (i64, i32)> + '_ {
        self.sessions.iter().map(|(id, timeout)| (*id, *timeout))
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

    pub fn ephemeral_count(&self) -> usize {
        self.ephemerals.values().map(|set| set.len()).sum()
    }

    /// Container and TTL nodes, for the reaper.
    pub fn reapable(&self) -> impl Iterator<Item = (&Arc<str>, &Arc<Node>)> + '_ {
        self.reapable
            .iter()
            .filter_map(|path| self.nodes.get_key_value(&**path))
    }

    /// Applies a committed (or prepared) transaction. Errors are ignored, as in ZooKeeper's replay:
    /// a transaction records resulting state, so re-applying one is harmless. Returns the node
    /// changes, in the order watches must see them.
    pub fn apply(&mut self, header: &TxnHeader, txn: &Txn) -> Vec<Change> {
        let mut changes = Vec::new();
        self.apply_into(header, txn, &mut changes);
        if header.zxid > self.last_zxid {
            self.last_zxid = header.zxid;
        }
        changes
    }

    fn apply_into(&mut self, header: &TxnHeader, txn: &Txn, changes: &mut Vec<Change>) {
        let zxid = header.zxid;
        match txn {
            Txn::CreateSession { timeout } => {
                self.sessions.insert(header.session_id, *timeout);
            }
            Txn::CloseSession { ephemerals } => {
                // The tree's own index is the authority; the list in the txn is what prep saw.
                let mut paths = self.ephemerals_of(header.session_id);
                for extra in ephemerals {
                    if !paths.iter().any(|p| **p == **extra) {
                        paths.push(Arc::from(extra.as_str()));
                    }
                }
                for path in paths {
                    if self.delete(&path, zxid).is_ok() {
                        push_delete(changes, &path);
                    }
                }
                self.sessions.remove(&header.session_id);
                self.ephemerals.remove(&header.session_id);
            }
            Txn::Create {
                path,
                data,
                acl,
                owner,
                parent_cversion,
            } => {
                let node = Node::new(
                    data.as_ref().map(|d| Bytes::copy_from_slice(d)),
                    intern_acl(acl),
                    *owner,
                    zxid,
                    header.time,
                );
                if let Ok(key) = self.create(path, node, *parent_cversion, zxid) {
                    changes.push(Change::Created(key));
                }
            }
            Txn::Delete { path } => {
                if let Ok(key) = self.delete(path, zxid) {
                    push_delete(changes, &key);
                }
            }
            Txn::SetData {
                path,
                data,
                version,
            } => {
                if let Some((key, node)) = self.node_mut(path) {
                    node.data = data.as_ref().map(|d| Bytes::copy_from_slice(d));
                    node.version = *version;
                    node.mzxid = zxid;
                    node.mtime = header.time;
                    changes.push(Change::DataChanged(key));
                }
            }
            Txn::SetAcl { path, acl, version } => {
                if let Some((_, node)) = self.node_mut(path) {
                    node.acl = intern_acl(acl);
                    node.aversion = *version;
                }
            }
            Txn::Check { .. } | Txn::Error { .. } => {}
            Txn::Multi(ops) => {
                for op in ops {
                    self.apply_into(header, op, changes);
                }
            }
        }
    }

    fn node_mut(&mut self, path: &str) -> Option<(Arc<str>, &mut Node)> {
        let key = self.key(path)?;
        let node = self.nodes.get_mut(&*key)?;
        Some((key, Arc::make_mut(node)))
    }

    /// Adds a node under its parent. A create replayed on top of a snapshot that already has the
    /// node still moves the parent's cversion/pzxid forward (quorum §9.5).
    fn create(
        &mut self,
        path: &str,
        node: Node,
        parent_cversion: i32,
        zxid: i64,
    ) -> Result<Arc<str>, ErrorCode> {
        let (parent_path, _) = path::split_parent(path).ok_or(ErrorCode::BadArguments)?;
        let exists = self.nodes.contains_key(path);
        let key: Arc<str> = Arc::from(path);
        {
            let parent = self.nodes.get_mut(parent_path).ok_or(ErrorCode::NoNode)?;
            let parent = Arc::make_mut(parent);
            if parent_cversion > parent.cversion {
                parent.cversion = parent_cversion;
                parent.pzxid = zxid;
            }
            if exists {
                return Err(ErrorCode::NodeExists);
            }
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
        self.nodes.insert(key.clone(), Arc::new(node));
        Ok(key)
    }

    fn delete(&mut self, path: &str, zxid: i64) -> Result<Arc<str>, ErrorCode> {
        let (key, node) = self.nodes.remove_with_key(path).ok_or(ErrorCode::NoNode)?;
        if let Some((parent_path, _)) = path::split_parent(path)
            && let Some(parent) = self.nodes.get_mut(parent_path)
        {
            let parent = Arc::make_mut(parent);
            parent.children.remove(path);
            if zxid > parent.pzxid {
                parent.pzxid = zxid;
            }
        }
        match node.kind() {
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
        Ok(key)
    }

    /// Every node, parents before children (for snapshots).
    pub fn walk(&self) -> impl Iterator<Item = (&Arc<str>, &Arc<Node>)> + '_ {
        let mut stack: Vec<Arc<str>> = vec![Arc::from("/")];
        std::iter::from_fn(move || {
            let path = stack.pop()?;
            let (key, node) = self.nodes.get_key_value(&*path)?;
            stack.extend(node.children.iter().rev().cloned());
            Some((key, node))
        })
    }

    /// Rebuilds a tree from snapshot parts (parents must come before children).
    pub fn from_parts(
        last_zxid: i64,
        sessions: impl IntoIterator<Item = (i64, i32)>,
        nodes: impl IntoIterator<Item = (String, Node)>,
    ) -> Result<Self, String> {
        let mut tree = DataTree {
            nodes: HashMap::new(),
            sessions: sessions.into_iter().collect(),
            ephemerals: HashMap::new(),
            reapable: OrdSet::new(),
            last_zxid,
        };
        for (path, mut node) in nodes {
            node.children = OrdSet::new();
            let key: Arc<str> = Arc::from(path.as_str());
            if path != "/" {
                let (parent, _) = path::split_parent(&path)
                    .ok_or_else(|| format!("snapshot node {path:?} has no parent"))?;
                let parent = tree
                    .nodes
                    .get_mut(parent)
                    .ok_or_else(|| format!("snapshot node {path:?} comes before its parent"))?;
                Arc::make_mut(parent).children.insert(key.clone());
            }
            match node.kind() {
                NodeKind::Ephemeral(session) => {
                    tree.ephemerals
                        .entry(session)
                        .or_default()
                        .insert(key.clone());
                }
                NodeKind::Container | NodeKind::Ttl(_) => {
                    tree.reapable.insert(key.clone());
                }
                NodeKind::Persistent => {}
            }
            tree.nodes.insert(key, Arc::new(node));
        }
        if tree.nodes.get("/").is_none() {
            return Err("snapshot has no root node".into());
        }
        Ok(tree)
    }
}

fn push_delete(changes: &mut Vec<Change>, path: &Arc<str>) {
    changes.push(Change::Deleted(path.clone()));
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
}
