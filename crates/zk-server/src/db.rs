//! The committed database: the tree that reads see, and the watches on it.
//!
//! Committing a batch (applying it and triggering its watches) happens under the watch lock and
//! the tree's write lock, and a read that sets a watch takes the watch lock before it reads. So a
//! watch is either set before a change is committed (and fires for it) or set on a tree that
//! already shows the change.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::tree::{DataTree, WalkCursor};
use crate::watch::WatchManager;

#[derive(Debug)]
pub struct Database {
    committed: RwLock<DataTree>,
    /// The committed tree's last zxid, readable without the lock.
    last_zxid: AtomicI64,
    watches: Mutex<WatchManager>,
}

impl Database {
    pub fn new(tree: DataTree) -> Self {
        Database {
            last_zxid: AtomicI64::new(tree.last_zxid()),
            committed: RwLock::new(tree),
            watches: Mutex::new(WatchManager::new()),
        }
    }

    /// The committed tree, for a read. Hold it briefly: commits wait for it. Never take the
    /// watch lock while holding it (commits take that one first).
    pub fn tree(&self) -> RwLockReadGuard<'_, DataTree> {
        self.committed
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The zxid of the last committed transaction.
    pub fn last_zxid(&self) -> i64 {
        self.last_zxid.load(Ordering::Acquire)
    }

    pub fn watches(&self) -> MutexGuard<'_, WatchManager> {
        self.watches
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs a read that may register watches, atomically with respect to commits.
    pub fn read_watching<R>(&self, read: impl FnOnce(&DataTree, &mut WatchManager) -> R) -> R {
        let mut watches = self.watches();
        let tree = self.tree();
        read(&tree, &mut watches)
    }

    /// Commits: `commit` applies transactions to the tree and triggers their watches, with no
    /// reader in between.
    pub fn commit<R>(&self, commit: impl FnOnce(&mut DataTree, &mut WatchManager) -> R) -> R {
        let mut watches = self.watches();
        let mut tree = self.write();
        let result = commit(&mut tree, &mut watches);
        self.last_zxid.store(tree.last_zxid(), Ordering::Release);
        result
    }

    /// Replaces the tree without firing anything (start-up and resynchronisation).
    pub fn reset(&self, tree: DataTree) {
        let _watches = self.watches();
        let mut committed = self.write();
        self.last_zxid.store(tree.last_zxid(), Ordering::Release);
        *committed = tree;
    }

    /// Applies transactions that fire no watches (a log replayed into the tree).
    pub fn update<R>(&self, update: impl FnOnce(&mut DataTree) -> R) -> R {
        self.commit(|tree, _| update(tree))
    }

    /// Bytes of paths and data in the tree (mntr's `approximate_data_size`), counted a few
    /// thousand nodes per hold of the lock so that commits do not wait for a whole walk.
    pub fn approximate_data_size(&self) -> usize {
        let mut cursor = WalkCursor::default();
        let mut size = 0;
        let mut more = true;
        while more {
            more = self.tree().walk_some(&mut cursor, 4096, |node| {
                size += node.path_bytes().len() + node.data().map_or(0, <[u8]>::len);
            });
        }
        size
    }

    fn write(&self) -> RwLockWriteGuard<'_, DataTree> {
        self.committed
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
