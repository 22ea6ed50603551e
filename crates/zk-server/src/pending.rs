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

use crate::digest;
use crate::tree::{DataTree, Node, NodeKind, Rollback, TreeEdit, TreeView, lookup_path};

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
    /// The tree digest as the prepared writes leave it, with the zxid of the last write that
    /// changed it; `None` once the committed tree has every such write (its digest is the one).
    digest: Option<(i64, i64)>,
}

impl Pending {
    /// Forgets every prepared change (a new role, or writes that will never commit).
    pub fn clear(&mut self) {
        *self = Pending::default();
    }

    /// Whether no prepared change is held.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.sessions.is_empty() && self.ephemerals.is_empty()
    }

    /// The committed tree with these changes over it.
    pub fn over<'a>(&'a mut self, base: &'a DataTree) -> PendingTree<'a> {
        self.prune(base.last_zxid());
        if self
            .digest
            .is_some_and(|(zxid, _)| zxid <= base.last_zxid())
        {
            self.digest = None;
        }
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
    /// The tree digest as the prepared writes leave it (ZooKeeper's TxnDigest of the last).
    pub fn digest(&self) -> i64 {
        self.pending
            .digest
            .map_or_else(|| self.base.digest(), |(_, digest)| digest)
    }

    /// A node's digest went from `before` to `after` in the write being prepared.
    fn change_digest(&mut self, before: i64, after: i64) {
        let digest = self.digest().wrapping_sub(before).wrapping_add(after);
        self.pending.digest = Some((self.zxid, digest));
    }

    /// The node at `path` as this write leaves it, copied from the committed tree on first use.
    fn node_mut(&mut self, path: &str) -> Option<&mut Node> {
        let path = lookup_path(path);
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
        Some(node)
    }

    /// Records `value` as the node at `path` once the write being prepared applies.
    fn put_node(&mut self, key: Arc<str>, value: Option<Node>) -> Arc<str> {
        let slot = Slot {
            zxid: self.zxid,
            value,
        };
        self.pending.nodes.insert(key.clone(), slot);
        self.pending.touched(self.zxid, Key::Node(key.clone()));
        key
    }

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
        let path = lookup_path(path);
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
    fn update(&mut self, path: &str, change: &mut dyn FnMut(&mut Node)) -> bool {
        let Some(node) = self.node_mut(path) else {
            return false;
        };
        let before = digest::of_node(node);
        change(node);
        let after = digest::of_node(node);
        self.change_digest(before, after);
        true
    }

    fn add_node(&mut self, node: Node) {
        self.change_digest(0, digest::of_node(&node));
        let kind = node.kind();
        let key = self.put_node(Arc::from(node.path()), Some(node));
        if let NodeKind::Ephemeral(session) = kind {
            self.ephemerals_mut(session).insert(key);
        }
    }

    fn remove_node(&mut self, path: &str) -> Option<Node> {
        let node = self.get(path)?.clone();
        self.change_digest(digest::of_node(&node), 0);
        if let NodeKind::Ephemeral(session) = node.kind() {
            self.ephemerals_mut(session).remove(path);
        }
        self.put_node(Arc::from(path), None);
        Some(node)
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
    use proptest::prelude::*;

    use super::*;
    use crate::acl::{AuthId, open_acl_unsafe};
    use crate::prep::{Caller, CreateOp, PrepPolicy, Prepared, WriteOp, WriteRequest, prepare};
    use crate::txn::{Txn, TxnHeader};

    const SESSION: i64 = 0x0100_0000_0000_0001;

    fn create_op(path: &str, flags: i32) -> WriteOp {
        WriteOp::Create {
            op: CreateOp::Create2,
            path: path.into(),
            data: Some(Bytes::from_static(b"d")),
            acl: open_acl_unsafe(),
            flags,
            ttl: -1,
        }
    }

    fn create(path: &str, flags: i32) -> WriteRequest {
        WriteRequest::Op(create_op(path, flags))
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

    /// Prepares `requests` (session, request) twice: in order on one tree, and over a committed
    /// tree that trails by `lag(i)` writes after request i. Every transaction and reply must be
    /// the same, the trees must end the same, each prepared digest must be the committed tree's
    /// once it applies that transaction, and the pending changes must empty out.
    fn check_against_in_order(requests: &[(i64, WriteRequest)], lag: impl Fn(usize) -> usize) {
        let ids = vec![AuthId::new("ip", "127.0.0.1")];
        let policy = PrepPolicy::default();
        let header = |i: usize, session: i64| {
            let zxid = i as i64 + 1;
            TxnHeader {
                session_id: session,
                cxid: 1,
                zxid,
                time: 1_000 + zxid,
            }
        };
        let caller = |session| Caller {
            session_id: session,
            ids: &ids,
        };
        let mut reference = DataTree::new();
        let expected: Vec<(Prepared, i64)> = requests
            .iter()
            .enumerate()
            .map(|(i, (session, request))| {
                let header = header(i, *session);
                let prepared = prepare(&mut reference, &header, caller(*session), &policy, request);
                (prepared, reference.digest())
            })
            .collect();
        let mut committed = DataTree::new();
        let mut pending = Pending::default();
        let mut uncommitted: VecDeque<(TxnHeader, Txn, i64)> = VecDeque::new();
        for (i, (session, request)) in requests.iter().enumerate() {
            let header = header(i, *session);
            let mut view = pending.over(&committed);
            view.writing(header.zxid);
            let prepared = prepare(&mut view, &header, caller(*session), &policy, request);
            let digest = view.digest();
            let (expected_prepared, expected_digest) = &expected[i];
            assert_eq!(
                prepared.txn, expected_prepared.txn,
                "request {i}: {request:?}"
            );
            assert_eq!(
                prepared.reply, expected_prepared.reply,
                "request {i}: {request:?}"
            );
            assert_eq!(digest, *expected_digest, "request {i}: {request:?}");
            uncommitted.push_back((header, prepared.txn, digest));
            while uncommitted.len() > lag(i) {
                let (header, txn, digest) = uncommitted.pop_front().unwrap();
                committed.apply(&header, &txn);
                assert_eq!(committed.digest(), digest, "zxid {}", header.zxid);
            }
        }
        for (header, txn, digest) in uncommitted {
            committed.apply(&header, &txn);
            assert_eq!(committed.digest(), digest, "zxid {}", header.zxid);
        }
        assert_eq!(committed.last_zxid(), reference.last_zxid());
        let ours: Vec<_> = committed.walk().map(|(p, n)| (p, n.clone())).collect();
        let theirs: Vec<_> = reference.walk().map(|(p, n)| (p, n.clone())).collect();
        assert_eq!(ours, theirs);
        for session in [SESSION, OTHER] {
            assert_eq!(
                committed.ephemerals_of(session),
                reference.ephemerals_of(session)
            );
            assert_eq!(
                committed.session_timeout(session),
                reference.session_timeout(session)
            );
        }
        pending.over(&committed);
        assert!(pending.is_empty(), "everything committed is dropped");
    }

    /// Once the committed tree has every prepared write, its digest is the one to build on,
    /// even if it disagrees with what was prepared (a leader's drift does not outlive it).
    #[test]
    fn the_prepared_digest_follows_the_committed_tree_once_it_catches_up() {
        let ids = vec![AuthId::new("ip", "127.0.0.1")];
        let policy = PrepPolicy::default();
        let header = TxnHeader {
            session_id: SESSION,
            cxid: 1,
            zxid: 1,
            time: 1_000,
        };
        let caller = Caller {
            session_id: SESSION,
            ids: &ids,
        };
        let mut committed = DataTree::new();
        let mut pending = Pending::default();
        let mut view = pending.over(&committed);
        view.writing(1);
        prepare(&mut view, &header, caller, &policy, &create("/a", 0));
        let prepared = view.digest();
        assert_ne!(prepared, committed.digest());
        // Another write commits at that zxid.
        let other = prepare(&mut committed, &header, caller, &policy, &create("/b", 0));
        assert!(matches!(other.txn, Txn::Create { .. }));
        assert_ne!(committed.digest(), prepared);
        assert_eq!(pending.over(&committed).digest(), committed.digest());
    }

    /// A hand-picked sequence: sequence nodes, versions, a failing multi, deletes in and out
    /// of order, ephemerals and a closed session, at every fixed lag from 0 to 4.
    #[test]
    fn preparing_over_lagging_commits_matches_preparing_in_order() {
        let requests: Vec<(i64, WriteRequest)> = vec![
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
        ]
        .into_iter()
        .map(|request| (SESSION, request))
        .collect();
        for lag in 0..5 {
            check_against_in_order(&requests, |_| lag);
        }
    }

    const OTHER: i64 = 0x0100_0000_0000_0002;

    /// One random write over a few paths, from one of two sessions.
    fn any_request() -> impl Strategy<Value = (i64, WriteRequest)> {
        let path = prop::sample::select(vec!["/a", "/a/b", "/a/b/c", "/d", "/d/e"]);
        let flags = prop::sample::select(vec![0, 1, 2, 3]);
        let op = (path.clone(), flags, -1i32..3).prop_map(|(path, flags, version)| {
            match (flags, version) {
                (_, 2) => WriteOp::SetData {
                    path: path.into(),
                    data: Some(Bytes::from_static(b"v")),
                    version: -1,
                },
                (0, 1) => WriteOp::Delete {
                    path: path.into(),
                    version: -1,
                },
                (1, 1) => WriteOp::Check {
                    path: path.into(),
                    version: 0,
                },
                _ => create_op(path, flags),
            }
        });
        let request = prop_oneof![
            6 => op.clone().prop_map(WriteRequest::Op),
            2 => prop::collection::vec(op, 1..4).prop_map(WriteRequest::Multi),
            1 => Just(WriteRequest::CloseSession),
            1 => Just(WriteRequest::CreateSession { timeout: 30_000 }),
        ];
        (prop::sample::select(vec![SESSION, OTHER]), request)
    }

    proptest! {
        /// Random writes of two sessions, committed with a random lag after each.
        #[test]
        fn random_writes_over_lagging_commits_match_preparing_in_order(
            requests in prop::collection::vec(any_request(), 1..60),
            lags in prop::collection::vec(0usize..6, 60),
        ) {
            let mut all = vec![
                (SESSION, WriteRequest::CreateSession { timeout: 30_000 }),
                (OTHER, WriteRequest::CreateSession { timeout: 30_000 }),
            ];
            all.extend(requests);
            check_against_in_order(&all, |i| lags[i % lags.len()]);
        }
    }
}
