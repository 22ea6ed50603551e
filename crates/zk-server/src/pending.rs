//! Writes prepared but not yet committed, over the committed tree: ZooKeeper's "outstanding
//! changes".
//!
//! The write path checks each request against the committed tree as the writes prepared before
//! it leave it. Rather than a second tree, it keeps the nodes, sessions and ephemeral sets those
//! writes changed, each tagged with the zxid that changed it last. Once the committed tree has
//! reached that zxid the entry says nothing new and is dropped, oldest first.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use hashbrown::HashMap;

use crate::tree::{DataTree, Node, NodeKind, Rollback, TreeEdit, TreeView};

/// A value as the newest prepared write left it (`None`: removed), and that write's zxid.
#[derive(Debug, Clone)]
struct Slot<T> {
    zxid: i64,
    value: Option<T>,
}

/// Which entry a zxid changed, for dropping it once committed.
#[derive(Debug, Clone)]
enum Key {
    Node(Arc<str>),
    Session(i64),
    Ephemerals(i64),
}

/// The prepared changes not yet in the committed tree.
#[derive(Debug, Clone, Default)]
pub struct Pending {
    nodes: HashMap<Arc<str>, Slot<Node>>,
    sessions: HashMap<i64, Slot<i32>>,
    ephemerals: HashMap<i64, Slot<BTreeSet<Arc<str>>>>,
    /// Every (zxid, entry) change, in zxid order.
    order: VecDeque<(i64, Key)>,
    last_zxid: i64,
}

impl Pending {
    /// Forgets every prepared change (a new role, or writes that will never commit).
    pub fn clear(&mut self) {
        *self = Pending::default();
    }

    /// Number of entries held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.nodes.len() + self.sessions.len() + self.ephemerals.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The committed tree with these changes over it.
    pub fn over<'a>(&'a mut self, base: &'a DataTree) -> PendingTree<'a> {
        self.prune(base.last_zxid());
        PendingTree {
            base,
            pending: self,
            zxid: 0,
        }
    }

    /// Drops the entries whose newest change the committed tree has.
    fn prune(&mut self, committed: i64) {
        while let Some((zxid, _)) = self.order.front() {
            if *zxid > committed {
                break;
            }
            let Some((zxid, key)) = self.order.pop_front() else {
                break;
            };
            match key {
                Key::Node(path) => drop_if_settled(&mut self.nodes, &path, zxid),
                Key::Session(id) => drop_if_settled(&mut self.sessions, &id, zxid),
                Key::Ephemerals(id) => drop_if_settled(&mut self.ephemerals, &id, zxid),
            }
        }
    }

    fn touched(&mut self, zxid: i64, key: Key) {
        self.order.push_back((zxid, key));
    }
}

fn drop_if_settled<K: std::hash::Hash + Eq, T>(map: &mut HashMap<K, Slot<T>>, key: &K, zxid: i64) {
    if map.get(key).is_some_and(|slot| slot.zxid <= zxid) {
        map.remove(key);
    }
}

/// The committed tree as the prepared writes leave it. Edits go to the pending changes only.
#[derive(Debug)]
pub struct PendingTree<'a> {
    base: &'a DataTree,
    pending: &'a mut Pending,
    /// The write being prepared: what its edits are tagged with.
    zxid: i64,
}

impl PendingTree<'_> {
    /// Sets the zxid of the write about to be prepared: its edits are tagged with it.
    pub fn writing(&mut self, zxid: i64) {
        self.zxid = zxid;
    }

    /// The pending ephemeral set of a session, copied from the committed one on first change.
    fn ephemerals_mut(&mut self, session: i64) -> &mut BTreeSet<Arc<str>> {
        let zxid = self.zxid;
        let touched = match self.pending.ephemerals.get_mut(&session) {
            Some(slot) if slot.zxid == zxid => false,
            Some(slot) => {
                slot.zxid = zxid;
                true
            }
            None => {
                let set = self.base.ephemerals_of(session).into_iter().collect();
                let slot = Slot {
                    zxid,
                    value: Some(set),
                };
                self.pending.ephemerals.insert(session, slot);
                true
            }
        };
        if touched {
            self.pending.touched(zxid, Key::Ephemerals(session));
        }
        let slot = self
            .pending
            .ephemerals
            .entry(session)
            .or_insert(Slot { zxid, value: None });
        slot.value.get_or_insert_with(BTreeSet::new)
    }
}

/// A multi's undo: the pending changes as they were (they hold only what is in flight).
impl Rollback for PendingTree<'_> {
    type Saved = Pending;

    fn save(&self) -> Pending {
        self.pending.clone()
    }

    fn restore(&mut self, saved: Pending) {
        *self.pending = saved;
    }
}

impl TreeView for PendingTree<'_> {
    fn get(&self, path: &str) -> Option<&Node> {
        let path = if path.is_empty() { "/" } else { path };
        match self.pending.nodes.get(path) {
            Some(slot) => slot.value.as_ref(),
            None => self.base.get(path),
        }
    }

    fn session_timeout(&self, session: i64) -> Option<i32> {
        match self.pending.sessions.get(&session) {
            Some(slot) => slot.value,
            None => self.base.session_timeout(session),
        }
    }

    fn ephemerals_of(&self, session: i64) -> Vec<Arc<str>> {
        match self.pending.ephemerals.get(&session) {
            Some(slot) => slot.value.iter().flatten().cloned().collect(),
            None => self.base.ephemerals_of(session),
        }
    }

    fn last_zxid(&self) -> i64 {
        self.pending.last_zxid.max(self.base.last_zxid())
    }
}

impl TreeEdit for PendingTree<'_> {
    fn node_mut(&mut self, path: &str) -> Option<(Arc<str>, &mut Node)> {
        let path = if path.is_empty() { "/" } else { path };
        if !self.pending.nodes.contains_key(path) {
            let node = self.base.get(path)?.clone();
            let slot = Slot {
                zxid: i64::MIN,
                value: Some(node),
            };
            self.pending.nodes.insert(Arc::from(path), slot);
        }
        let (key, slot) = self.pending.nodes.get_key_value_mut(path)?;
        let node = slot.value.as_mut()?;
        if slot.zxid != self.zxid {
            slot.zxid = self.zxid;
            self.pending
                .order
                .push_back((self.zxid, Key::Node(key.clone())));
        }
        Some((key.clone(), node))
    }

    fn add_node(&mut self, path: &str, node: Node) -> Arc<str> {
        if let NodeKind::Ephemeral(session) = node.kind() {
            self.ephemerals_mut(session).insert(Arc::from(path));
        }
        let key: Arc<str> = Arc::from(path);
        let slot = Slot {
            zxid: self.zxid,
            value: Some(node),
        };
        self.pending.nodes.insert(key.clone(), slot);
        self.pending.touched(self.zxid, Key::Node(key.clone()));
        key
    }

    fn remove_node(&mut self, path: &str) -> Option<(Arc<str>, Node)> {
        let node = self.get(path)?.clone();
        if let NodeKind::Ephemeral(session) = node.kind() {
            self.ephemerals_mut(session).remove(path);
        }
        let key: Arc<str> = Arc::from(path);
        let slot = Slot {
            zxid: self.zxid,
            value: None,
        };
        self.pending.nodes.insert(key.clone(), slot);
        self.pending.touched(self.zxid, Key::Node(key.clone()));
        Some((key, node))
    }

    fn set_session(&mut self, session: i64, timeout: Option<i32>) {
        let slot = Slot {
            zxid: self.zxid,
            value: timeout,
        };
        self.pending.sessions.insert(session, slot);
        self.pending.touched(self.zxid, Key::Session(session));
        if timeout.is_none() {
            self.ephemerals_mut(session).clear();
        }
    }

    fn set_last_zxid(&mut self, zxid: i64) {
        self.pending.last_zxid = zxid;
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::acl::{AuthId, open_acl_unsafe};
    use crate::prep::{Caller, CreateOp, PrepPolicy, Prepared, WriteOp, WriteRequest, prepare};
    use crate::txn::{Txn, TxnHeader};

    const SESSION: i64 = 0x0100_0000_0000_0001;

    fn create(path: &str, flags: i32) -> WriteRequest {
        WriteRequest::Op(WriteOp::Create {
            op: CreateOp::Create2,
            path: path.into(),
            data: Some(Bytes::from_static(b"d")),
            acl: open_acl_unsafe(),
            flags,
            ttl: -1,
        })
    }

    fn delete(path: &str) -> WriteRequest {
        WriteRequest::Op(WriteOp::Delete {
            path: path.into(),
            version: -1,
        })
    }

    fn set(path: &str, version: i32) -> WriteRequest {
        WriteRequest::Op(WriteOp::SetData {
            path: path.into(),
            data: Some(Bytes::from_static(b"x")),
            version,
        })
    }

    fn header(zxid: i64) -> TxnHeader {
        TxnHeader {
            session_id: SESSION,
            cxid: 1,
            zxid,
            time: 1_000 + zxid,
        }
    }

    /// Every request prepared over a committed tree that lags behind (by a varying number of
    /// writes) gets the transaction and reply it gets when prepared on an up-to-date tree, and
    /// the committed tree ends the same.
    #[test]
    fn preparing_over_lagging_commits_matches_preparing_in_order() {
        let requests = vec![
            WriteRequest::CreateSession { timeout: 30_000 },
            create("/a", 0),
            create("/a/seq-", 2),
            create("/a/seq-", 2),
            create("/a", 0),
            set("/a", 0),
            set("/a", 0),
            create("/e", 1),
            create("/e/child", 0),
            WriteRequest::Multi(vec![
                WriteOp::Check {
                    path: "/a".into(),
                    version: 1,
                },
                WriteOp::Delete {
                    path: "/a/seq-0000000000".into(),
                    version: -1,
                },
                WriteOp::Delete {
                    path: "/missing".into(),
                    version: -1,
                },
            ]),
            delete("/a"),
            delete("/a/seq-0000000000"),
            delete("/a/seq-0000000001"),
            delete("/a"),
            create("/a", 0),
            create("/e2", 1),
            WriteRequest::CloseSession,
            create("/after-close", 0),
        ];
        let ids = vec![AuthId::new("ip", "127.0.0.1")];
        let policy = PrepPolicy::default();
        let caller = Caller {
            session_id: SESSION,
            ids: &ids,
        };
        for lag in 0..5 {
            let mut reference = DataTree::new();
            let expected: Vec<Prepared> = requests
                .iter()
                .enumerate()
                .map(|(i, request)| {
                    prepare(
                        &mut reference,
                        &header(i as i64 + 1),
                        caller,
                        &policy,
                        request,
                    )
                })
                .collect();
            let mut committed = DataTree::new();
            let mut pending = Pending::default();
            let mut uncommitted: VecDeque<(TxnHeader, Txn)> = VecDeque::new();
            for (i, request) in requests.iter().enumerate() {
                let header = header(i as i64 + 1);
                let mut view = pending.over(&committed);
                view.writing(header.zxid);
                let prepared = prepare(&mut view, &header, caller, &policy, request);
                assert_eq!(prepared.txn, expected[i].txn, "lag {lag}, request {i}");
                assert_eq!(prepared.reply, expected[i].reply, "lag {lag}, request {i}");
                uncommitted.push_back((header, prepared.txn));
                while uncommitted.len() > lag {
                    let (header, txn) = uncommitted.pop_front().unwrap();
                    committed.apply(&header, &txn);
                }
            }
            for (header, txn) in uncommitted {
                committed.apply(&header, &txn);
            }
            assert_eq!(committed.last_zxid(), reference.last_zxid());
            let ours: Vec<_> = committed.walk().map(|(p, n)| (p, n.clone())).collect();
            let theirs: Vec<_> = reference.walk().map(|(p, n)| (p, n.clone())).collect();
            assert_eq!(ours, theirs, "lag {lag}");
            pending.over(&committed);
            assert!(
                pending.is_empty(),
                "lag {lag}: everything committed is dropped"
            );
        }
    }
}
