//! Watches: who is told what when a node changes (client-protocol §11).
//!
//! Two tables, data and child, each mapping a path to the connections watching it and, for each,
//! the set of modes (standard one-shot, persistent, persistent-recursive). Lookups go by path and,
//! for recursive watches, by each ancestor of the changed path: never a scan of all watches.

use std::collections::{HashMap, HashSet};

use zk_proto::{EventType, WatcherType};

use crate::path;
use crate::tree::Change;

/// Identifies a client connection (watches belong to connections, not sessions).
pub type ConnId = u64;

/// Which table a watch lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    Data,
    Child,
}

/// How a watch was set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// One-shot: removed when it fires.
    Standard,
    Persistent,
    PersistentRecursive,
}

impl Mode {
    fn bit(self) -> u8 {
        match self {
            Mode::Standard => 1,
            Mode::Persistent => 2,
            Mode::PersistentRecursive => 4,
        }
    }
}

/// One notification to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub conn: ConnId,
    pub event: EventType,
    pub path: String,
}

#[derive(Debug, Default)]
struct WatchTable {
    by_path: HashMap<String, HashMap<ConnId, u8>>,
    /// How many persistent-recursive watches exist: ancestor lookups are skipped when none do.
    recursive: usize,
}

impl WatchTable {
    fn add(&mut self, conn: ConnId, path: &str, mode: Mode) -> bool {
        let modes = self
            .by_path
            .entry(path.to_owned())
            .or_default()
            .entry(conn)
            .or_insert(0);
        let added = *modes & mode.bit() == 0;
        if added && mode == Mode::PersistentRecursive {
            self.recursive += 1;
        }
        *modes |= mode.bit();
        added
    }

    /// Removes the given mode bits of one connection on one path; returns whether any was there.
    fn remove(&mut self, conn: ConnId, path: &str, bits: u8) -> bool {
        let Some(watchers) = self.by_path.get_mut(path) else {
            return false;
        };
        let Some(modes) = watchers.get_mut(&conn) else {
            return false;
        };
        let removed = *modes & bits;
        if removed & Mode::PersistentRecursive.bit() != 0 {
            self.recursive -= 1;
        }
        *modes &= !bits;
        if *modes == 0 {
            watchers.remove(&conn);
            if watchers.is_empty() {
                self.by_path.remove(path);
            }
        }
        removed != 0
    }

    fn has(&self, conn: ConnId, path: &str, bits: u8) -> bool {
        self.by_path
            .get(path)
            .and_then(|watchers| watchers.get(&conn))
            .is_some_and(|modes| modes & bits != 0)
    }

    /// Fires the watches of `path`: everything set exactly there (standard ones are used up), and
    /// recursive ones on any ancestor. Each connection is reported once. Connections whose last
    /// watch on `path` was used up are added to `used_up`.
    fn trigger(&mut self, path: &str, out: &mut Vec<ConnId>, used_up: &mut Vec<ConnId>) {
        let before = out.len();
        if let Some(watchers) = self.by_path.get_mut(path) {
            out.extend(watchers.keys().copied());
            watchers.retain(|conn, modes| {
                *modes &= !Mode::Standard.bit();
                if *modes == 0 {
                    used_up.push(*conn);
                }
                *modes != 0
            });
            if watchers.is_empty() {
                self.by_path.remove(path);
            }
        }
        if self.recursive > 0 {
            for ancestor in path::ancestors(path) {
                if let Some(watchers) = self.by_path.get(ancestor) {
                    out.extend(watchers.iter().filter_map(|(conn, modes)| {
                        (modes & Mode::PersistentRecursive.bit() != 0).then_some(*conn)
                    }));
                }
            }
        }
        dedup_tail(out, before);
    }

    fn count(&self) -> usize {
        self.by_path.values().map(HashMap::len).sum()
    }
}

fn dedup_tail(out: &mut Vec<ConnId>, from: usize) {
    let mut seen = HashSet::new();
    let mut index = from;
    while index < out.len() {
        if seen.insert(out[index]) {
            index += 1;
        } else {
            out.swap_remove(index);
        }
    }
}

fn emit(conns: &mut Vec<ConnId>, event: EventType, path: &str, out: &mut Vec<Delivery>) {
    out.extend(conns.drain(..).map(|conn| Delivery {
        conn,
        event,
        path: path.to_owned(),
    }));
}

/// All watches of the server.
#[derive(Debug, Default)]
pub struct WatchManager {
    data: WatchTable,
    child: WatchTable,
    /// Paths each connection watches, so that closing a connection is cheap.
    by_conn: HashMap<ConnId, HashSet<(Table, String)>>,
}

impl WatchManager {
    pub fn new() -> Self {
        Self::default()
    }

    fn table(&mut self, table: Table) -> &mut WatchTable {
        match table {
            Table::Data => &mut self.data,
            Table::Child => &mut self.child,
        }
    }

    /// Registers a watch (idempotent).
    pub fn add(&mut self, conn: ConnId, path: &str, table: Table, mode: Mode) {
        self.table(table).add(conn, path, mode);
        self.by_conn
            .entry(conn)
            .or_default()
            .insert((table, path.to_owned()));
    }

    /// addWatch: PERSISTENT goes into both tables, PERSISTENT_RECURSIVE into the data table.
    pub fn add_persistent(&mut self, conn: ConnId, path: &str, recursive: bool) {
        if recursive {
            self.add(conn, path, Table::Data, Mode::PersistentRecursive);
        } else {
            self.add(conn, path, Table::Data, Mode::Persistent);
            self.add(conn, path, Table::Child, Mode::Persistent);
        }
    }

    /// The (table, mode bits) pairs a WatcherType names (3.9 semantics).
    fn selection(kind: WatcherType) -> [(Table, u8); 2] {
        let std = Mode::Standard.bit();
        let persistent = Mode::Persistent.bit();
        let recursive = Mode::PersistentRecursive.bit();
        match kind {
            WatcherType::Children => [(Table::Child, std), (Table::Data, 0)],
            WatcherType::Data => [(Table::Data, std), (Table::Child, 0)],
            WatcherType::Any => [(Table::Data, 0xff), (Table::Child, 0xff)],
            WatcherType::Persistent => [(Table::Data, persistent), (Table::Child, persistent)],
            WatcherType::PersistentRecursive => [(Table::Data, recursive), (Table::Child, 0)],
        }
    }

    /// checkWatches: does this connection have such a watch on the path?
    pub fn has(&self, conn: ConnId, path: &str, kind: WatcherType) -> bool {
        Self::selection(kind).iter().any(|(table, bits)| {
            *bits != 0
                && match table {
                    Table::Data => self.data.has(conn, path, *bits),
                    Table::Child => self.child.has(conn, path, *bits),
                }
        })
    }

    /// removeWatches: removes matching watches; false when there was none.
    pub fn remove(&mut self, conn: ConnId, path: &str, kind: WatcherType) -> bool {
        let mut removed = false;
        for (table, bits) in Self::selection(kind) {
            if bits != 0 && self.table(table).remove(conn, path, bits) {
                removed = true;
                if !self.table(table).has(conn, path, 0xff)
                    && let Some(paths) = self.by_conn.get_mut(&conn)
                {
                    paths.remove(&(table, path.to_owned()));
                }
            }
        }
        removed
    }

    /// Drops every watch of a closed connection.
    pub fn remove_conn(&mut self, conn: ConnId) {
        if let Some(paths) = self.by_conn.remove(&conn) {
            for (table, path) in paths {
                self.table(table).remove(conn, &path, 0xff);
            }
        }
    }

    /// The notifications one committed change causes, in ZooKeeper's order (§11.2).
    pub fn trigger(&mut self, change: &Change) -> Vec<Delivery> {
        let mut out = Vec::new();
        let mut conns = Vec::new();
        match change {
            Change::Created(path) => {
                self.fire(Table::Data, path, &mut conns);
                emit(&mut conns, EventType::NodeCreated, path, &mut out);
                if let Some((parent, _)) = path::split_parent(path) {
                    self.fire(Table::Child, parent, &mut conns);
                    emit(&mut conns, EventType::NodeChildrenChanged, parent, &mut out);
                }
            }
            Change::Deleted(path, _) => {
                self.fire(Table::Data, path, &mut conns);
                let told: HashSet<ConnId> = conns.iter().copied().collect();
                emit(&mut conns, EventType::NodeDeleted, path, &mut out);
                self.fire(Table::Child, path, &mut conns);
                conns.retain(|conn| !told.contains(conn));
                emit(&mut conns, EventType::NodeDeleted, path, &mut out);
                if let Some((parent, _)) = path::split_parent(path) {
                    self.fire(Table::Child, parent, &mut conns);
                    emit(&mut conns, EventType::NodeChildrenChanged, parent, &mut out);
                }
            }
            Change::DataChanged(path) => {
                self.fire(Table::Data, path, &mut conns);
                emit(&mut conns, EventType::NodeDataChanged, path, &mut out);
            }
        }
        out
    }

    /// Triggers one table at one path and keeps `by_conn` in step with used-up watches.
    fn fire(&mut self, table: Table, path: &str, conns: &mut Vec<ConnId>) {
        let mut used_up = Vec::new();
        self.table(table).trigger(path, conns, &mut used_up);
        for conn in used_up {
            if let Some(paths) = self.by_conn.get_mut(&conn) {
                paths.remove(&(table, path.to_owned()));
                if paths.is_empty() {
                    self.by_conn.remove(&conn);
                }
            }
        }
    }

    /// `wchs`, `wchc` and `wchp` show the data table only (getData, exists and persistent
    /// watches), as ZooKeeper does.
    pub fn data_watches_by_connection(&self) -> Vec<(ConnId, Vec<String>)> {
        let mut map: HashMap<ConnId, Vec<String>> = HashMap::new();
        for (path, watchers) in &self.data.by_path {
            for conn in watchers.keys() {
                map.entry(*conn).or_default().push(path.clone());
            }
        }
        let mut out: Vec<(ConnId, Vec<String>)> = map.into_iter().collect();
        for (_, paths) in &mut out {
            paths.sort();
        }
        out.sort();
        out
    }

    /// Data-table watches by path (`wchp`).
    pub fn data_watches_by_path(&self) -> Vec<(String, Vec<ConnId>)> {
        let mut out: Vec<(String, Vec<ConnId>)> = self
            .data
            .by_path
            .iter()
            .map(|(path, watchers)| {
                let mut conns: Vec<ConnId> = watchers.keys().copied().collect();
                conns.sort();
                (path.clone(), conns)
            })
            .collect();
        out.sort();
        out
    }

    /// Number of watches (connection, path, table) for `wchs`.
    pub fn watch_count(&self) -> usize {
        self.data.count() + self.child.count()
    }

    /// Distinct watched paths, for `wchs`.
    pub fn path_count(&self) -> usize {
        let mut paths: HashSet<&str> = self.data.by_path.keys().map(String::as_str).collect();
        paths.extend(self.child.by_path.keys().map(String::as_str));
        paths.len()
    }

    /// Connection → watched paths (`wchc`).
    pub fn by_connection(&self) -> Vec<(ConnId, Vec<String>)> {
        let mut out: Vec<(ConnId, Vec<String>)> = self
            .by_conn
            .iter()
            .map(|(conn, paths)| {
                let mut paths: Vec<String> = paths.iter().map(|(_, p)| p.clone()).collect();
                paths.sort();
                paths.dedup();
                (*conn, paths)
            })
            .collect();
        out.sort();
        out
    }

    /// Path → watching connections (`wchp`).
    pub fn by_path(&self) -> Vec<(String, Vec<ConnId>)> {
        let mut map: HashMap<&str, HashSet<ConnId>> = HashMap::new();
        for table in [&self.data, &self.child] {
            for (path, watchers) in &table.by_path {
                map.entry(path).or_default().extend(watchers.keys());
            }
        }
        let mut out: Vec<(String, Vec<ConnId>)> = map
            .into_iter()
            .map(|(path, conns)| {
                let mut conns: Vec<ConnId> = conns.into_iter().collect();
                conns.sort();
                (path.to_owned(), conns)
            })
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change_created(path: &str) -> Change {
        Change::Created(path.into())
    }

    fn events(deliveries: &[Delivery]) -> Vec<(ConnId, EventType, &str)> {
        deliveries
            .iter()
            .map(|d| (d.conn, d.event, d.path.as_str()))
            .collect()
    }

    #[test]
    fn standard_watches_fire_once() {
        let mut w = WatchManager::new();
        w.add(1, "/a", Table::Data, Mode::Standard);
        let first = w.trigger(&Change::DataChanged("/a".into()));
        assert_eq!(events(&first), [(1, EventType::NodeDataChanged, "/a")]);
        assert!(w.trigger(&Change::DataChanged("/a".into())).is_empty());
        assert_eq!(w.watch_count(), 0);
        assert!(w.by_connection().is_empty());
    }

    #[test]
    fn delete_tells_each_connection_once_then_the_parent() {
        let mut w = WatchManager::new();
        w.add(1, "/p/c", Table::Data, Mode::Standard);
        w.add(1, "/p/c", Table::Child, Mode::Standard);
        w.add(2, "/p/c", Table::Child, Mode::Standard);
        w.add(3, "/p", Table::Child, Mode::Standard);
        let out = w.trigger(&Change::Deleted(
            "/p/c".into(),
            crate::tree::intern_acl(&[]),
        ));
        assert_eq!(
            events(&out),
            [
                (1, EventType::NodeDeleted, "/p/c"),
                (2, EventType::NodeDeleted, "/p/c"),
                (3, EventType::NodeChildrenChanged, "/p"),
            ]
        );
    }

    #[test]
    fn persistent_watches_stay_and_recursive_ones_see_the_subtree() {
        let mut w = WatchManager::new();
        w.add_persistent(1, "/p", false);
        w.add_persistent(2, "/", true);
        let out = w.trigger(&change_created("/p/c"));
        assert_eq!(
            events(&out),
            [
                (2, EventType::NodeCreated, "/p/c"),
                (1, EventType::NodeChildrenChanged, "/p"),
            ],
            "recursive watches never get NodeChildrenChanged"
        );
        let again = w.trigger(&Change::DataChanged("/p".into()));
        assert_eq!(events(&again).len(), 2, "both persistent watches remain");
        assert!(w.trigger(&Change::DataChanged("/p/c".into())).len() == 1);
    }

    #[test]
    fn remove_and_check_follow_watcher_types() {
        let mut w = WatchManager::new();
        w.add(1, "/a", Table::Data, Mode::Standard);
        w.add_persistent(1, "/a", true);
        assert!(w.has(1, "/a", WatcherType::Data));
        assert!(!w.has(1, "/a", WatcherType::Children));
        assert!(w.remove(1, "/a", WatcherType::PersistentRecursive));
        assert!(!w.remove(1, "/a", WatcherType::PersistentRecursive));
        assert!(w.has(1, "/a", WatcherType::Any));
        w.remove_conn(1);
        assert_eq!(w.watch_count(), 0);
        assert!(w.trigger(&change_created("/a/b")).is_empty());
    }
}
