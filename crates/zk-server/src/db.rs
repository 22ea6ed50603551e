//! The published database: the committed tree that reads see, and the watches on it.
//!
//! Publishing a new tree and triggering its watches happen under the watch lock, and a read that
//! sets a watch takes the same lock while it loads the tree. So a watch is either set before a
//! change is published (and fires for it) or set on a tree that already shows the change.

use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use crate::tree::{Change, DataTree};
use crate::watch::{Delivery, WatchManager};

#[derive(Debug)]
pub struct Database {
    committed: RwLock<Arc<DataTree>>,
    watches: Mutex<WatchManager>,
}

impl Database {
    pub fn new(tree: DataTree) -> Self {
        Database {
            committed: RwLock::new(Arc::new(tree)),
            watches: Mutex::new(WatchManager::new()),
        }
    }

    /// The committed tree as of now (O(1); readers never block writers for long).
    pub fn tree(&self) -> Arc<DataTree> {
        match self.committed.read() {
            Ok(tree) => tree.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn watches(&self) -> MutexGuard<'_, WatchManager> {
        self.watches
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs a read that may register watches, atomically with respect to publishing.
    pub fn read_watching<R>(&self, read: impl FnOnce(&DataTree, &mut WatchManager) -> R) -> R {
        let mut watches = self.watches();
        let tree = self.tree();
        read(&tree, &mut watches)
    }

    /// Publishes a newly committed tree: triggers the watches of `changes` (each with the zxid
    /// that made it; `deliver` gets the trees before and after), then makes the tree visible.
    pub fn publish<'a>(
        &self,
        tree: Arc<DataTree>,
        changes: impl IntoIterator<Item = (i64, &'a Change)>,
        mut deliver: impl FnMut(&DataTree, &DataTree, i64, Delivery),
    ) {
        let mut watches = self.watches();
        let before = self.tree();
        for (zxid, change) in changes {
            for delivery in watches.trigger(change) {
                deliver(&before, &tree, zxid, delivery);
            }
        }
        let mut committed = match self.committed.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *committed = tree;
    }

    /// Replaces the tree without firing anything (start-up and resynchronisation).
    pub fn reset(&self, tree: DataTree) {
        let _watches = self.watches();
        let mut committed = match self.committed.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *committed = Arc::new(tree);
    }
}
