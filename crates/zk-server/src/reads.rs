//! Requests answered from the committed tree without a transaction: reads, watch management,
//! whoAmI and sync (client-protocol §7.8-§7.22).

use bytes::Bytes;
use zk_proto::multi::{MultiKind, MultiOp, MultiResponse, MultiResult};
use zk_proto::response::Response;
use zk_proto::{
    AddWatchMode, ClientInfo, ErrorCode, ErrorResponse, EventType, ExistsResponse, GetAclResponse,
    GetAllChildrenNumberResponse, GetChildren2Response, GetChildrenResponse, GetDataResponse,
    GetEphemeralsResponse, Perms, Request, SyncResponse, WatcherType, WhoAmIResponse,
};

use crate::acl::{AclPolicy, AuthId, masked_for_reader};
use crate::db::Database;
use crate::server::notification_frame;
use crate::tree::DataTree;
use crate::watch::{ConnId, Mode, Table, WatchManager};

/// Who is reading.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    pub conn: ConnId,
    pub session_id: i64,
    pub ids: &'a [AuthId],
    pub policy: &'a AclPolicy,
}

/// A read's answer: the zxid for the reply header, the error (Ok for success), the body, and
/// notifications that must reach the client before the reply (setWatches).
#[derive(Debug)]
pub struct ReadOutcome {
    pub zxid: i64,
    pub err: ErrorCode,
    pub body: Option<Response>,
    pub events: Vec<Bytes>,
}

impl ReadOutcome {
    fn ok(zxid: i64, body: Response) -> Self {
        ReadOutcome {
            zxid,
            err: ErrorCode::Ok,
            body: Some(body),
            events: Vec::new(),
        }
    }

    fn empty(zxid: i64) -> Self {
        ReadOutcome {
            zxid,
            err: ErrorCode::Ok,
            body: None,
            events: Vec::new(),
        }
    }

    fn err(zxid: i64, err: ErrorCode) -> Self {
        ReadOutcome {
            zxid,
            err,
            body: None,
            events: Vec::new(),
        }
    }
}

/// Answers a read-side request. `None` means the request is not a read.
pub fn execute(db: &Database, who: Reader<'_>, request: &Request) -> Option<ReadOutcome> {
    Some(match request {
        Request::Exists(req) => watching(db, req.watch, |tree, watches| {
            exists(tree, watches, who, &req.path, req.watch)
        }),
        Request::GetData(req) => watching(db, req.watch, |tree, watches| {
            get_data(tree, watches, who, &req.path, req.watch)
        }),
        Request::GetChildren(req) => watching(db, req.watch, |tree, watches| {
            get_children(tree, watches, who, &req.path, req.watch, false)
        }),
        Request::GetChildren2(req) => watching(db, req.watch, |tree, watches| {
            get_children(tree, watches, who, &req.path, req.watch, true)
        }),
        Request::GetAcl(req) => {
            let tree = db.tree();
            let zxid = tree.last_zxid();
            match tree.get(&req.path) {
                None => ReadOutcome::err(zxid, ErrorCode::NoNode),
                Some(node) => {
                    let admin = who.policy.allows(&node.acl, Perms::ADMIN, who.ids);
                    if !admin && !who.policy.allows(&node.acl, Perms::READ, who.ids) {
                        ReadOutcome::err(zxid, ErrorCode::NoAuth)
                    } else {
                        let acl = if admin {
                            node.acl.to_vec()
                        } else {
                            masked_for_reader(&node.acl)
                        };
                        ReadOutcome::ok(
                            zxid,
                            Response::GetAcl(GetAclResponse {
                                acl,
                                stat: node.stat(),
                            }),
                        )
                    }
                }
            }
        }
        Request::GetAllChildrenNumber(req) => {
            let tree = db.tree();
            let zxid = tree.last_zxid();
            match tree.get(&req.path) {
                None => ReadOutcome::err(zxid, ErrorCode::NoNode),
                Some(node) if !who.policy.allows(&node.acl, Perms::READ, who.ids) => {
                    ReadOutcome::err(zxid, ErrorCode::NoAuth)
                }
                Some(_) => ReadOutcome::ok(
                    zxid,
                    Response::GetAllChildrenNumber(GetAllChildrenNumberResponse {
                        total_number: i32::try_from(tree.descendant_count(&req.path))
                            .unwrap_or(i32::MAX),
                    }),
                ),
            }
        }
        Request::GetEphemerals(req) => {
            let tree = db.tree();
            let prefix = req.prefix_path.as_deref().map(str::trim).unwrap_or("");
            let all = prefix.is_empty() || prefix == "/";
            let ephemerals = tree
                .ephemerals_of(who.session_id)
                .iter()
                .filter(|path| all || path.starts_with(prefix))
                .map(|path| path.to_string())
                .collect();
            ReadOutcome::ok(
                tree.last_zxid(),
                Response::GetEphemerals(GetEphemeralsResponse { ephemerals }),
            )
        }
        Request::Sync(req) => ReadOutcome::ok(
            db.last_zxid(),
            Response::Sync(SyncResponse {
                path: req.path.clone(),
            }),
        ),
        // A multi of reads on opcode 14, or writes on opcode 22, cannot be parsed as asked.
        Request::Multi(_) => ReadOutcome::err(db.last_zxid(), ErrorCode::MarshallingError),
        Request::MultiRead(multi) if multi.kind() == Some(MultiKind::Write) => {
            ReadOutcome::err(db.last_zxid(), ErrorCode::MarshallingError)
        }
        Request::MultiRead(multi) => {
            let tree = db.tree();
            let results = multi
                .ops
                .iter()
                .map(|op| multi_read_op(&tree, who, op))
                .collect();
            ReadOutcome::ok(tree.last_zxid(), Response::Multi(MultiResponse { results }))
        }
        Request::WhoAmI => ReadOutcome::ok(
            db.last_zxid(),
            Response::WhoAmI(WhoAmIResponse {
                client_info: who.ids.iter().map(client_info).collect(),
            }),
        ),
        Request::AddWatch(req) => {
            let zxid = db.last_zxid();
            match req.add_watch_mode() {
                Ok(mode) => {
                    db.watches().add_persistent(
                        who.conn,
                        &req.path,
                        mode == AddWatchMode::PersistentRecursive,
                    );
                    ReadOutcome::ok(zxid, Response::AddWatch(ErrorResponse { err: 0 }))
                }
                Err(_) => ReadOutcome::err(zxid, ErrorCode::MarshallingError),
            }
        }
        Request::CheckWatches(req) => {
            watch_query(db, who, &req.path, req.watcher_kind().ok(), false)
        }
        Request::RemoveWatches(req) => {
            watch_query(db, who, &req.path, req.watcher_kind().ok(), true)
        }
        Request::SetWatches(req) => set_watches(
            db,
            who,
            req.relative_zxid,
            [
                &req.data_watches,
                &req.exist_watches,
                &req.child_watches,
                &Vec::new(),
                &Vec::new(),
            ],
        ),
        Request::SetWatches2(req) => set_watches(
            db,
            who,
            req.relative_zxid,
            [
                &req.data_watches,
                &req.exist_watches,
                &req.child_watches,
                &req.persistent_watches,
                &req.persistent_recursive_watches,
            ],
        ),
        _ => return None,
    })
}

/// Runs a read under the watch lock when it sets a watch (so that it cannot miss a change that
/// is being published), and without it otherwise.
fn watching(
    db: &Database,
    watch: bool,
    read: impl FnOnce(&DataTree, &mut WatchManager) -> ReadOutcome,
) -> ReadOutcome {
    if watch {
        db.read_watching(read)
    } else {
        let tree = db.tree();
        read(&tree, &mut WatchManager::new())
    }
}

fn exists(
    tree: &DataTree,
    watches: &mut WatchManager,
    who: Reader<'_>,
    path: &str,
    watch: bool,
) -> ReadOutcome {
    let zxid = tree.last_zxid();
    if path.contains('\0') {
        return ReadOutcome::err(zxid, ErrorCode::BadArguments);
    }
    let node = tree.get(path);
    if let Some(node) = node
        && !who.policy.allows(&node.acl, Perms::READ, who.ids)
    {
        return ReadOutcome::err(zxid, ErrorCode::NoAuth);
    }
    if watch {
        watches.add(who.conn, path, Table::Data, Mode::Standard);
    }
    match node {
        Some(node) => ReadOutcome::ok(zxid, Response::Exists(ExistsResponse { stat: node.stat() })),
        None => ReadOutcome::err(zxid, ErrorCode::NoNode),
    }
}

fn get_data(
    tree: &DataTree,
    watches: &mut WatchManager,
    who: Reader<'_>,
    path: &str,
    watch: bool,
) -> ReadOutcome {
    let zxid = tree.last_zxid();
    let Some(node) = tree.get(path) else {
        return ReadOutcome::err(zxid, ErrorCode::NoNode);
    };
    if !who.policy.allows(&node.acl, Perms::READ, who.ids) {
        return ReadOutcome::err(zxid, ErrorCode::NoAuth);
    }
    if watch {
        watches.add(who.conn, path, Table::Data, Mode::Standard);
    }
    ReadOutcome::ok(
        zxid,
        Response::GetData(GetDataResponse {
            data: node.data().map(Bytes::copy_from_slice),
            stat: node.stat(),
        }),
    )
}

fn get_children(
    tree: &DataTree,
    watches: &mut WatchManager,
    who: Reader<'_>,
    path: &str,
    watch: bool,
    with_stat: bool,
) -> ReadOutcome {
    let zxid = tree.last_zxid();
    let Some(node) = tree.get(path) else {
        return ReadOutcome::err(zxid, ErrorCode::NoNode);
    };
    if !who.policy.allows(&node.acl, Perms::READ, who.ids) {
        return ReadOutcome::err(zxid, ErrorCode::NoAuth);
    }
    if watch {
        watches.add(who.conn, path, Table::Child, Mode::Standard);
    }
    let children = tree.child_names(path);
    let body = if with_stat {
        Response::GetChildren2(GetChildren2Response {
            children,
            stat: node.stat(),
        })
    } else {
        Response::GetChildren(GetChildrenResponse { children })
    };
    ReadOutcome::ok(zxid, body)
}

/// One op of a multiRead, on its own: watches are ignored, failures stay local.
fn multi_read_op(tree: &DataTree, who: Reader<'_>, op: &MultiOp) -> MultiResult {
    let mut no_watches = WatchManager::new();
    let outcome = match op {
        MultiOp::GetData(req) => get_data(tree, &mut no_watches, who, &req.path, false),
        MultiOp::GetChildren(req) => {
            get_children(tree, &mut no_watches, who, &req.path, false, false)
        }
        _ => ReadOutcome::err(tree.last_zxid(), ErrorCode::MarshallingError),
    };
    match (outcome.err, outcome.body) {
        (ErrorCode::Ok, Some(Response::GetData(data))) => MultiResult::GetData {
            data: data.data,
            stat: data.stat,
        },
        (ErrorCode::Ok, Some(Response::GetChildren(children))) => MultiResult::GetChildren {
            children: children.children,
        },
        (err, _) => MultiResult::Error { err: err.code() },
    }
}

fn client_info(id: &AuthId) -> ClientInfo {
    let user = match id.scheme.as_str() {
        "digest" => id.id.split(':').next().unwrap_or("").to_owned(),
        _ => id.id.clone(),
    };
    ClientInfo {
        auth_scheme: id.scheme.clone(),
        user,
    }
}

/// checkWatches / removeWatches.
fn watch_query(
    db: &Database,
    who: Reader<'_>,
    path: &str,
    kind: Option<WatcherType>,
    remove: bool,
) -> ReadOutcome {
    let zxid = db.last_zxid();
    let Some(kind) = kind else {
        return ReadOutcome::err(zxid, ErrorCode::MarshallingError);
    };
    let mut watches = db.watches();
    let found = if remove {
        watches.remove(who.conn, path, kind)
    } else {
        watches.has(who.conn, path, kind)
    };
    if found {
        ReadOutcome::empty(zxid)
    } else {
        ReadOutcome::err(zxid, ErrorCode::NoWatcher)
    }
}

/// setWatches / setWatches2 (§7.19): re-registers a reconnecting client's watches, and tells it
/// at once about changes it missed (those watches are not registered: they are used up).
fn set_watches(
    db: &Database,
    who: Reader<'_>,
    relative_zxid: i64,
    [data, exist, child, persistent, recursive]: [&Vec<String>; 5],
) -> ReadOutcome {
    db.read_watching(|tree, watches| {
        let mut events = Vec::new();
        let mut fire =
            |event: EventType, path: &str| events.push(notification_frame(-1, event, path));
        for path in data {
            match tree.get(path) {
                None => fire(EventType::NodeDeleted, path),
                Some(node) if node.mzxid > relative_zxid => fire(EventType::NodeDataChanged, path),
                Some(_) => watches.add(who.conn, path, Table::Data, Mode::Standard),
            }
        }
        for path in exist {
            match tree.get(path) {
                Some(_) => fire(EventType::NodeCreated, path),
                None => watches.add(who.conn, path, Table::Data, Mode::Standard),
            }
        }
        for path in child {
            match tree.get(path) {
                None => fire(EventType::NodeDeleted, path),
                Some(node) if node.pzxid > relative_zxid => {
                    fire(EventType::NodeChildrenChanged, path)
                }
                Some(_) => watches.add(who.conn, path, Table::Child, Mode::Standard),
            }
        }
        for path in persistent {
            watches.add_persistent(who.conn, path, false);
        }
        for path in recursive {
            watches.add_persistent(who.conn, path, true);
        }
        ReadOutcome {
            zxid: tree.last_zxid(),
            err: ErrorCode::Ok,
            body: None,
            events,
        }
    })
}
