//! Turning a client's write into a transaction: every check ZooKeeper's PrepRequestProcessor runs,
//! in ZooKeeper's order, so that the first failing check gives ZooKeeper's error code
//! (client-protocol §7). Pure logic over the prepared tree; no I/O.

use bytes::Bytes;
use zk_proto::multi::{MultiKind, MultiOp};
use zk_proto::{Acl, CreateRequest, CreateTtlRequest, ErrorCode, OpCode, Request, Stat};

use crate::acl::{AclPolicy, AuthId, Perms, fixup};
use crate::path;
use crate::quota;
use crate::reconfig::{self, Reconfig};
use crate::tree::{
    CONFIG_PATH, Change, MAX_TTL, NodeKind, Rollback, TreeEdit, TreeView, apply, apply_watched,
    data_len, intern_acl,
};
use crate::txn::{Txn, TxnHeader};

/// Which create opcode asked: it decides the node type and the reply layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateOp {
    /// opcode 1: replies with the path only.
    Create,
    /// opcode 15: replies with path and Stat.
    Create2,
    /// opcode 19: always a container, whatever the flags.
    Container,
    /// opcode 21: a TTL node.
    Ttl,
}

/// One write operation, alone or inside a multi.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    Create {
        op: CreateOp,
        path: String,
        data: Option<Bytes>,
        acl: Vec<Acl>,
        flags: i32,
        /// -1 unless opcode 21.
        ttl: i64,
    },
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        data: Option<Bytes>,
        version: i32,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
}

/// Everything that goes through the transaction path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteRequest {
    Op(WriteOp),
    Multi(Vec<WriteOp>),
    CreateSession {
        timeout: i32,
    },
    CloseSession,
    /// From the container/TTL reaper (opcode 20): no session or ACL check.
    DeleteContainer {
        path: String,
    },
    /// A write refused before any check (reconfig on a standalone server) that still takes a
    /// zxid, as in ZooKeeper.
    Fail(ErrorCode),
    /// A learner's `sync`: answered once the leader has sent every commit before it. No txn.
    Sync {
        path: String,
    },
    /// A reconfig, with `reconfigEnabled` (see [`crate::reconfig`]).
    Reconfig(Reconfig),
}

/// The outcome of one operation as the client will see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    Created {
        path: String,
        stat: Option<Stat>,
    },
    Deleted,
    Stat(Stat),
    Checked,
    /// A committed reconfig: the configuration it made, and `/zookeeper/config`'s Stat.
    Reconfigured {
        config: Bytes,
        stat: Stat,
    },
    Failed(ErrorCode),
}

/// The reply a prepared write will send once it commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteReply {
    Single(OpResult),
    /// Per-op results; on failure every op is `Failed` (0 before the failing op, -2 after).
    Multi(Vec<OpResult>),
    /// Session create/close and container deletes: header only.
    Done,
    /// A completed `sync` of this path.
    Synced {
        path: String,
    },
}

/// Facts about the caller that the checks need.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub session_id: i64,
    pub ids: &'a [AuthId],
}

/// Server settings the checks depend on.
#[derive(Debug, Clone, Default)]
pub struct PrepPolicy {
    pub acl: AclPolicy,
    /// `zookeeper.extendedTypesEnabled`: TTL nodes.
    pub extended_types: bool,
    /// `zookeeper.enforceQuota`: writes over a hard quota fail (see [`crate::quota`]).
    pub enforce_quota: bool,
    /// An ensemble member (a standalone server answers reconfig with UNIMPLEMENTED at once).
    pub ensemble: bool,
}

/// A prepared write: log `txn`; once it is durable, apply it, fire its watches, send `reply`.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub txn: Txn,
    pub reply: WriteReply,
}

/// What a reconfig asks of the leader's broadcast before it is proposed.
pub trait QuorumState {
    /// Whether a reconfig was proposed and has not committed yet.
    fn reconfig_in_progress(&self) -> bool;
    /// Whether the voters of this configuration text that are synced with the leader make a
    /// quorum of it.
    fn is_quorum_synced(&self, config_text: &[u8]) -> bool;
}

impl QuorumState for zk_peer::Proposer {
    fn reconfig_in_progress(&self) -> bool {
        zk_peer::Proposer::reconfig_in_progress(self)
    }

    fn is_quorum_synced(&self, config_text: &[u8]) -> bool {
        zk_peer::Proposer::is_quorum_synced(self, config_text)
    }
}

/// Prepares a write against `tree` (the state after every earlier prepared write) and applies it
/// there. A write that fails its checks still becomes a transaction (an error txn), because
/// ZooKeeper gives it a zxid too.
pub fn prepare<T: Rollback>(
    tree: &mut T,
    header: &TxnHeader,
    caller: Caller<'_>,
    policy: &PrepPolicy,
    request: &WriteRequest,
) -> Prepared {
    prepare_on(tree, header, caller, policy, request, None)
}

/// [`prepare`] on a leader, whose broadcast `quorum` a reconfig consults (without one, a
/// reconfig that changes the voters is UNIMPLEMENTED).
pub fn prepare_on<T: Rollback>(
    tree: &mut T,
    header: &TxnHeader,
    caller: Caller<'_>,
    policy: &PrepPolicy,
    request: &WriteRequest,
    quorum: Option<&dyn QuorumState>,
) -> Prepared {
    let (txn, reply) = match request {
        WriteRequest::Op(op) => match check(tree, caller, policy, op) {
            Ok(txn) => {
                apply(tree, header, &txn);
                let reply = WriteReply::Single(result_of(op, &txn, tree));
                return Prepared { txn, reply };
            }
            Err(err) => (
                Txn::Error { err: err.code() },
                WriteReply::Single(OpResult::Failed(err)),
            ),
        },
        WriteRequest::Multi(ops) => return prepare_multi(tree, header, caller, policy, ops),
        WriteRequest::CreateSession { timeout } => {
            (Txn::CreateSession { timeout: *timeout }, WriteReply::Done)
        }
        WriteRequest::CloseSession => {
            let ephemerals = tree
                .ephemerals_of(caller.session_id)
                .iter()
                .map(|p| p.to_string())
                .collect();
            (Txn::CloseSession { ephemerals }, WriteReply::Done)
        }
        WriteRequest::DeleteContainer { path } => match check_delete_container(tree, path) {
            Ok(()) => (Txn::Delete { path: path.clone() }, WriteReply::Done),
            Err(err) => (Txn::Error { err: err.code() }, WriteReply::Done),
        },
        WriteRequest::Fail(err) => (
            Txn::Error { err: err.code() },
            WriteReply::Single(OpResult::Failed(*err)),
        ),
        WriteRequest::Reconfig(reconfig) => {
            match check_reconfig(tree, caller, policy, reconfig, header, quorum) {
                Ok(txn) => {
                    apply(tree, header, &txn);
                    let reply = WriteReply::Single(reconfigured(tree));
                    return Prepared { txn, reply };
                }
                Err(err) => (
                    Txn::Error { err: err.code() },
                    WriteReply::Single(OpResult::Failed(err)),
                ),
            }
        }
        // The write path answers syncs without preparing them; this keeps the match total.
        WriteRequest::Sync { path } => (
            Txn::Error {
                err: ErrorCode::Ok.code(),
            },
            WriteReply::Synced { path: path.clone() },
        ),
    };
    apply(tree, header, &txn);
    Prepared { txn, reply }
}

/// A multi is checked op by op against the state the earlier ops leave; all apply or none does
/// (a failed one is undone).
fn prepare_multi<T: Rollback>(
    tree: &mut T,
    header: &TxnHeader,
    caller: Caller<'_>,
    policy: &PrepPolicy,
    ops: &[WriteOp],
) -> Prepared {
    let saved = tree.save();
    let mut txns = Vec::with_capacity(ops.len());
    let mut results = Vec::with_capacity(ops.len());
    for (index, op) in ops.iter().enumerate() {
        match check(tree, caller, policy, op) {
            Ok(txn) => {
                apply(tree, header, &txn);
                results.push(result_of(op, &txn, tree));
                txns.push(txn);
            }
            Err(err) => {
                tree.restore(saved);
                let codes: Vec<ErrorCode> = (0..ops.len())
                    .map(|i| match i.cmp(&index) {
                        std::cmp::Ordering::Less => ErrorCode::Ok,
                        std::cmp::Ordering::Equal => err,
                        std::cmp::Ordering::Greater => ErrorCode::RuntimeInconsistency,
                    })
                    .collect();
                let txn = Txn::Multi(
                    codes
                        .iter()
                        .map(|code| Txn::Error { err: code.code() })
                        .collect(),
                );
                apply(tree, header, &txn);
                return Prepared {
                    txn,
                    reply: WriteReply::Multi(codes.into_iter().map(OpResult::Failed).collect()),
                };
            }
        }
    }
    let txn = Txn::Multi(txns);
    // The tree already holds every op; only the zxid bookkeeping is left.
    apply(tree, header, &Txn::Multi(Vec::new()));
    Prepared {
        txn,
        reply: WriteReply::Multi(results),
    }
}

/// Applies a committed transaction that one of this server's clients asked for, and rebuilds
/// the reply the leader's preparation gave: a learner answers forwarded writes with it.
pub fn replay<T: TreeEdit + ?Sized>(
    tree: &mut T,
    header: &TxnHeader,
    txn: &Txn,
    request: &WriteRequest,
) -> (Vec<Change>, WriteReply) {
    let failed = |err: i32| ErrorCode::try_from(err).unwrap_or(ErrorCode::SystemError);
    match (request, txn) {
        // Refused whole (a failed op, SESSIONMOVED, a refused reconfig).
        (_, Txn::Error { err }) => (
            apply_watched(tree, header, txn),
            WriteReply::Single(OpResult::Failed(failed(*err))),
        ),
        (WriteRequest::Reconfig(_), _) => {
            let changes = apply_watched(tree, header, txn);
            (changes, WriteReply::Single(reconfigured(tree)))
        }
        (WriteRequest::Op(op), _) => {
            let changes = apply_watched(tree, header, txn);
            let result = result_of(op, txn, tree);
            (changes, WriteReply::Single(result))
        }
        (WriteRequest::Multi(_), Txn::Multi(txns))
            if txns.iter().any(|t| matches!(t, Txn::Error { .. })) =>
        {
            let results = txns
                .iter()
                .map(|t| match t {
                    Txn::Error { err } => OpResult::Failed(failed(*err)),
                    _ => OpResult::Failed(ErrorCode::RuntimeInconsistency),
                })
                .collect();
            (apply_watched(tree, header, txn), WriteReply::Multi(results))
        }
        (WriteRequest::Multi(ops), Txn::Multi(txns)) => {
            let mut changes = Vec::new();
            let mut results = Vec::with_capacity(txns.len());
            for (op, sub) in ops.iter().zip(txns) {
                changes.extend(apply_watched(tree, header, sub));
                results.push(result_of(op, sub, tree));
            }
            apply(tree, header, &Txn::Multi(Vec::new()));
            (changes, WriteReply::Multi(results))
        }
        _ => (apply_watched(tree, header, txn), WriteReply::Done),
    }
}

/// What a successful op reports, read from the tree right after it was applied.
fn result_of<T: TreeView + ?Sized>(op: &WriteOp, txn: &Txn, tree: &T) -> OpResult {
    let stat_of = |path: &str| tree.get(path).map(|node| node.stat()).unwrap_or_default();
    match (op, txn) {
        (WriteOp::Create { op, .. }, Txn::Create { path, .. }) => OpResult::Created {
            path: path.clone(),
            stat: (*op != CreateOp::Create).then(|| stat_of(path)),
        },
        (WriteOp::Delete { .. }, _) => OpResult::Deleted,
        (WriteOp::SetData { path, .. } | WriteOp::SetAcl { path, .. }, _) => {
            OpResult::Stat(stat_of(path))
        }
        (WriteOp::Check { .. }, _) | (WriteOp::Create { .. }, _) => OpResult::Checked,
    }
}

/// What a reconfig answers (ZooKeeper's FinalRequestProcessor: the configuration it made, as a
/// getData of `/zookeeper/config` right after it was applied).
fn reconfigured<T: TreeView + ?Sized>(tree: &T) -> OpResult {
    let node = tree.get(CONFIG_PATH);
    OpResult::Reconfigured {
        config: node
            .and_then(|node| node.data())
            .map(Bytes::copy_from_slice)
            .unwrap_or_default(),
        stat: node.map(|node| node.stat()).unwrap_or_default(),
    }
}

/// Runs one op's checks in ZooKeeper's order and builds its transaction.
fn check(
    tree: &(impl TreeView + ?Sized),
    caller: Caller<'_>,
    policy: &PrepPolicy,
    op: &WriteOp,
) -> Result<Txn, ErrorCode> {
    match op {
        WriteOp::Create {
            op,
            path,
            data,
            acl,
            flags,
            ttl,
        } => check_create(tree, caller, policy, *op, path, data, acl, *flags, *ttl),
        WriteOp::Delete { path, version } => check_delete(tree, caller, policy, path, *version),
        WriteOp::SetData {
            path,
            data,
            version,
        } => {
            path::validate(path).map_err(|_| ErrorCode::BadArguments)?;
            let node = tree.get(path).ok_or(ErrorCode::NoNode)?;
            require(policy, &node.acl, Perms::WRITE, caller)?;
            if policy.enforce_quota {
                let change = data_len(data.as_deref()) - data_len(node.data());
                quota::check(tree, path, 0, change)?;
            }
            check_version(*version, node.version)?;
            Ok(Txn::SetData {
                path: path.clone(),
                data: data.clone(),
                version: node.version.wrapping_add(1),
            })
        }
        WriteOp::SetAcl { path, acl, version } => {
            path::validate(path).map_err(|_| ErrorCode::BadArguments)?;
            let acl =
                intern_acl(&fixup(acl, caller.ids, &policy.acl).ok_or(ErrorCode::InvalidAcl)?);
            let node = tree.get(path).ok_or(ErrorCode::NoNode)?;
            require(policy, &node.acl, Perms::ADMIN, caller)?;
            check_version(*version, node.aversion)?;
            Ok(Txn::SetAcl {
                path: path.clone(),
                acl,
                version: node.aversion.wrapping_add(1),
            })
        }
        WriteOp::Check { path, version } => {
            path::validate(path).map_err(|_| ErrorCode::BadArguments)?;
            let node = tree.get(path).ok_or(ErrorCode::NoNode)?;
            require(policy, &node.acl, Perms::READ, caller)?;
            check_version(*version, node.version)?;
            Ok(Txn::Check {
                path: path.clone(),
                version: node.version,
            })
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn check_create(
    tree: &(impl TreeView + ?Sized),
    caller: Caller<'_>,
    policy: &PrepPolicy,
    op: CreateOp,
    requested_path: &str,
    data: &Option<Bytes>,
    acl: &[Acl],
    flags: i32,
    ttl: i64,
) -> Result<Txn, ErrorCode> {
    let mode = CreateMode::from_flags(flags).ok_or(ErrorCode::BadArguments)?;
    if mode.ttl && !policy.extended_types {
        return Err(ErrorCode::Unimplemented);
    }
    let ttl_ok = if mode.ttl {
        (1..=MAX_TTL).contains(&ttl)
    } else {
        ttl < 0
    };
    if !ttl_ok {
        return Err(ErrorCode::BadArguments);
    }
    if !requested_path.contains('/') || requested_path.contains('\0') {
        return Err(ErrorCode::BadArguments);
    }
    let acl = intern_acl(&fixup(acl, caller.ids, &policy.acl).ok_or(ErrorCode::InvalidAcl)?);
    let (parent_path, _) = path::split_parent(requested_path).ok_or(ErrorCode::BadArguments)?;
    let parent = tree.get(parent_path).ok_or(ErrorCode::NoNode)?;
    require(policy, &parent.acl, Perms::CREATE, caller)?;
    let path = if mode.sequential {
        let mut path = String::with_capacity(requested_path.len() + SEQUENCE_SUFFIX_LEN);
        path.push_str(requested_path);
        push_sequence_suffix(&mut path, parent.cversion);
        path
    } else {
        requested_path.to_owned()
    };
    path::validate(&path).map_err(|_| ErrorCode::BadArguments)?;
    if tree.get(&path).is_some() {
        return Err(ErrorCode::NodeExists);
    }
    if matches!(parent.kind(), NodeKind::Ephemeral(_)) {
        return Err(ErrorCode::NoChildrenForEphemerals);
    }
    if policy.enforce_quota {
        quota::check(tree, &path, 1, data_len(data.as_deref()))?;
    }
    let kind = match op {
        CreateOp::Container => NodeKind::Container,
        CreateOp::Ttl => NodeKind::Ttl(ttl),
        CreateOp::Create | CreateOp::Create2 if mode.ephemeral => {
            NodeKind::Ephemeral(caller.session_id)
        }
        CreateOp::Create | CreateOp::Create2 => NodeKind::Persistent,
    };
    Ok(Txn::Create {
        path,
        data: data.clone(),
        acl,
        owner: kind.owner(),
        parent_cversion: parent.cversion.wrapping_add(1),
    })
}

/// Length of every sequence suffix.
const SEQUENCE_SUFFIX_LEN: usize = 10;

/// Appends Java's `String.format("%010d", n)`: ten digits, a negative number as `-` and nine
/// digits.
fn push_sequence_suffix(out: &mut String, counter: i32) {
    use std::fmt::Write as _;
    // Writing to a String cannot fail.
    let _ = if counter < 0 {
        write!(out, "-{:09}", i64::from(counter).unsigned_abs())
    } else {
        write!(out, "{counter:010}")
    };
}

fn check_delete(
    tree: &(impl TreeView + ?Sized),
    caller: Caller<'_>,
    policy: &PrepPolicy,
    path: &str,
    version: i32,
) -> Result<Txn, ErrorCode> {
    if !path.contains('/') || path.contains('\0') || path::is_special(path) {
        return Err(ErrorCode::BadArguments);
    }
    let (parent_path, _) = path::split_parent(path).ok_or(ErrorCode::BadArguments)?;
    let parent = tree.get(parent_path).ok_or(ErrorCode::NoNode)?;
    require(policy, &parent.acl, Perms::DELETE, caller)?;
    let node = tree.get(path).ok_or(ErrorCode::NoNode)?;
    check_version(version, node.version)?;
    if node.num_children != 0 {
        return Err(ErrorCode::NotEmpty);
    }
    Ok(Txn::Delete {
        path: path.to_owned(),
    })
}

/// deleteContainer (§7.24): no session or ACL check.
fn check_delete_container(tree: &(impl TreeView + ?Sized), path: &str) -> Result<(), ErrorCode> {
    if !path.contains('/') || path.contains('\0') || path::is_special(path) {
        return Err(ErrorCode::BadArguments);
    }
    let node = tree.get(path).ok_or(ErrorCode::NoNode)?;
    if node.num_children != 0 {
        return Err(ErrorCode::NotEmpty);
    }
    if matches!(node.kind(), NodeKind::Ephemeral(_)) {
        return Err(ErrorCode::BadVersion);
    }
    let (parent, _) = path::split_parent(path).ok_or(ErrorCode::BadArguments)?;
    tree.get(parent).ok_or(ErrorCode::NoNode)?;
    Ok(())
}

fn check_version(expected: i32, actual: i32) -> Result<(), ErrorCode> {
    if expected != -1 && expected != actual {
        return Err(ErrorCode::BadVersion);
    }
    Ok(())
}

/// ZooKeeper's order for a reconfig: standalone, another reconfig in progress, the version and
/// the server lists, a synced quorum of the new voters, then WRITE on `/zookeeper/config`. What
/// this server does not build is refused last (see [`crate::reconfig`]); the rest becomes the
/// configuration text whose version is this transaction's zxid.
fn check_reconfig(
    tree: &(impl TreeView + ?Sized),
    caller: Caller<'_>,
    policy: &PrepPolicy,
    request: &Reconfig,
    header: &TxnHeader,
    quorum: Option<&dyn QuorumState>,
) -> Result<Txn, ErrorCode> {
    let config = tree
        .get(CONFIG_PATH)
        .filter(|_| policy.ensemble)
        .ok_or(ErrorCode::Unimplemented)?;
    if quorum.is_some_and(|quorum| quorum.reconfig_in_progress()) {
        return Err(ErrorCode::ReconfigInProgress);
    }
    let current = config.data().unwrap_or_default();
    let next = reconfig::next_membership(request, current)?;
    let text = zk_peer::config_text(&next, header.zxid);
    if quorum.is_some_and(|quorum| !quorum.is_quorum_synced(text.as_bytes())) {
        return Err(ErrorCode::NewConfigNoQuorum);
    }
    require(policy, &config.acl, Perms::WRITE, caller)?;
    let servers = zk_peer::membership_servers(current);
    // A new membership of a hierarchical ensemble would drop its groups: a new quorum system.
    let unsupported = if reconfig::is_hierarchical(current) {
        Some("reconfiguring hierarchical quorums")
    } else if reconfig::moves_a_voter(&servers, &next) {
        Some("moving a voter to other quorum or election ports")
    } else if quorum.is_none() {
        Some("a reconfig prepared off the leader")
    } else {
        None
    };
    if let Some(what) = unsupported {
        tracing::warn!("reconfig refused: {what} is not supported");
        return Err(ErrorCode::Unimplemented);
    }
    Ok(Txn::Reconfig {
        config: text.into(),
    })
}

fn require(
    policy: &PrepPolicy,
    acl: &[Acl],
    perm: i32,
    caller: Caller<'_>,
) -> Result<(), ErrorCode> {
    if policy.acl.allows(acl, perm, caller.ids) {
        Ok(())
    } else {
        Err(ErrorCode::NoAuth)
    }
}

/// The create flags (CreateMode 0..=6) decoded into what they mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CreateMode {
    ephemeral: bool,
    sequential: bool,
    ttl: bool,
}

impl CreateMode {
    fn from_flags(flags: i32) -> Option<Self> {
        let (ephemeral, sequential, ttl) = match flags {
            0 | 4 => (false, false, false),
            1 => (true, false, false),
            2 => (false, true, false),
            3 => (true, true, false),
            5 => (false, false, true),
            6 => (false, true, true),
            _ => return None,
        };
        Some(CreateMode {
            ephemeral,
            sequential,
            ttl,
        })
    }
}

/// The transaction-path form of a request, or `None` for reads.
pub fn as_write(request: &Request, reconfig_enabled: bool) -> Option<WriteRequest> {
    let create = |op: CreateOp, req: &CreateRequest| WriteOp::Create {
        op,
        path: req.path.clone(),
        data: req.data.clone(),
        acl: req.acl.clone(),
        flags: req.flags,
        ttl: -1,
    };
    let ttl = |req: &CreateTtlRequest| WriteOp::Create {
        op: CreateOp::Ttl,
        path: req.path.clone(),
        data: req.data.clone(),
        acl: req.acl.clone(),
        flags: req.flags,
        ttl: req.ttl,
    };
    Some(match request {
        Request::Create(req) => WriteRequest::Op(create(CreateOp::Create, req)),
        Request::Create2(req) => WriteRequest::Op(create(CreateOp::Create2, req)),
        Request::CreateContainer(req) => WriteRequest::Op(create(CreateOp::Container, req)),
        Request::CreateTtl(req) => WriteRequest::Op(ttl(req)),
        Request::Delete(req) => WriteRequest::Op(WriteOp::Delete {
            path: req.path.clone(),
            version: req.version,
        }),
        Request::SetData(req) => WriteRequest::Op(WriteOp::SetData {
            path: req.path.clone(),
            data: req.data.clone(),
            version: req.version,
        }),
        Request::SetAcl(req) => WriteRequest::Op(WriteOp::SetAcl {
            path: req.path.clone(),
            acl: req.acl.clone(),
            version: req.version,
        }),
        Request::Multi(multi) if multi.kind() != Some(MultiKind::Read) => WriteRequest::Multi(
            multi
                .ops
                .iter()
                .filter_map(|op| match op {
                    MultiOp::Create { op, req } => Some(create(
                        match op {
                            OpCode::Create2 => CreateOp::Create2,
                            OpCode::CreateContainer => CreateOp::Container,
                            _ => CreateOp::Create,
                        },
                        req,
                    )),
                    MultiOp::CreateTtl(req) => Some(ttl(req)),
                    MultiOp::Delete(req) => Some(WriteOp::Delete {
                        path: req.path.clone(),
                        version: req.version,
                    }),
                    MultiOp::SetData(req) => Some(WriteOp::SetData {
                        path: req.path.clone(),
                        data: req.data.clone(),
                        version: req.version,
                    }),
                    MultiOp::Check(req) => Some(WriteOp::Check {
                        path: req.path.clone(),
                        version: req.version,
                    }),
                    MultiOp::GetData(_) | MultiOp::GetChildren(_) => None,
                })
                .collect(),
        ),
        Request::Reconfig(request) if reconfig_enabled => {
            WriteRequest::Reconfig(Reconfig::from(request))
        }
        Request::Reconfig(_) => WriteRequest::Fail(ErrorCode::ReconfigDisabled),
        Request::CloseSession => WriteRequest::CloseSession,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::{acl, digest_id, open_acl_unsafe};
    use crate::tree::{CONTAINER_OWNER, Change, DataTree};

    const SESSION: i64 = 0x0100_0000_0000_0001;

    struct Fixture {
        tree: DataTree,
        policy: PrepPolicy,
        ids: Vec<AuthId>,
        quorum: FakeQuorum,
    }

    /// A leader's broadcast as a reconfig sees it.
    #[derive(Default)]
    struct FakeQuorum {
        in_progress: bool,
        /// The leader and its synced followers.
        synced: Vec<u64>,
    }

    impl QuorumState for FakeQuorum {
        fn reconfig_in_progress(&self) -> bool {
            self.in_progress
        }

        fn is_quorum_synced(&self, config_text: &[u8]) -> bool {
            zk_peer::membership_verifier(config_text).contains_quorum(&self.synced)
        }
    }

    impl Fixture {
        fn new() -> Self {
            let mut fixture = Fixture {
                tree: DataTree::new(),
                policy: PrepPolicy {
                    extended_types: true,
                    ..PrepPolicy::default()
                },
                ids: vec![AuthId::new("ip", "127.0.0.1")],
                quorum: FakeQuorum {
                    in_progress: false,
                    synced: vec![1, 2],
                },
            };
            fixture.run(WriteRequest::CreateSession { timeout: 30_000 });
            fixture
        }

        /// The header of the next write.
        fn header(&self) -> TxnHeader {
            TxnHeader {
                session_id: SESSION,
                cxid: 1,
                zxid: self.tree.last_zxid() + 1,
                time: 1_000 + self.tree.last_zxid(),
            }
        }

        fn run(&mut self, request: WriteRequest) -> Prepared {
            let header = self.header();
            let caller = Caller {
                session_id: SESSION,
                ids: &self.ids,
            };
            let quorum: &dyn QuorumState = &self.quorum;
            prepare_on(
                &mut self.tree,
                &header,
                caller,
                &self.policy,
                &request,
                Some(quorum),
            )
        }

        /// Runs a write and returns, besides, the changes its commit would fire watches for.
        fn run_watched(&mut self, request: WriteRequest) -> (Prepared, Vec<Change>) {
            let header = self.header();
            let mut committed = self.tree.clone();
            let prepared = self.run(request);
            let changes = committed.apply_watched(&header, &prepared.txn);
            (prepared, changes)
        }

        fn op(&mut self, op: WriteOp) -> OpResult {
            match self.run(WriteRequest::Op(op)).reply {
                WriteReply::Single(result) => result,
                other => panic!("unexpected reply {other:?}"),
            }
        }

        fn create(&mut self, path: &str, flags: i32) -> OpResult {
            self.op(create_op(CreateOp::Create2, path, flags))
        }

        fn stat(&self, path: &str) -> zk_proto::Stat {
            self.tree.get(path).unwrap().stat()
        }
    }

    fn create_op(op: CreateOp, path: &str, flags: i32) -> WriteOp {
        WriteOp::Create {
            op,
            path: path.into(),
            data: Some(Bytes::from_static(b"d")),
            acl: open_acl_unsafe(),
            flags,
            ttl: if op == CreateOp::Ttl { 1000 } else { -1 },
        }
    }

    fn failed(code: ErrorCode) -> OpResult {
        OpResult::Failed(code)
    }

    #[test]
    fn builtin_nodes_have_zookeepers_stats() {
        let tree = DataTree::new();
        let root = tree.get("/").unwrap().stat();
        assert_eq!((root.cversion, root.num_children), (-1, 1));
        assert_eq!(tree.get("/zookeeper").unwrap().stat().cversion, -2);
        assert_eq!(tree.get("/zookeeper/config").unwrap().stat().aversion, -1);
        assert!(tree.get("").is_some(), "\"\" is an alias of /");
    }

    #[test]
    fn create_sets_stats_and_parent_counters() {
        let mut f = Fixture::new();
        let OpResult::Created {
            path,
            stat: Some(stat),
        } = f.create("/a", 0)
        else {
            panic!("create failed");
        };
        assert_eq!(path, "/a");
        assert_eq!((stat.czxid, stat.mzxid, stat.pzxid), (2, 2, 2));
        assert_eq!((stat.version, stat.cversion, stat.aversion), (0, 0, 0));
        assert_eq!(stat.data_length, 1);
        for _ in 0..3 {
            f.create("/a/s-", 2);
        }
        assert_eq!(
            f.tree.child_names("/a"),
            ["s-0000000000", "s-0000000001", "s-0000000002"]
        );
        f.op(WriteOp::Delete {
            path: "/a/s-0000000001".into(),
            version: -1,
        });
        let parent = f.stat("/a");
        assert_eq!(
            (parent.cversion, parent.num_children),
            (4, 2),
            "2 x 3 creates - 2 children"
        );
        assert_eq!(parent.pzxid, f.tree.last_zxid(), "delete moves pzxid");
        let OpResult::Created { path, .. } = f.create("/a/s-", 2) else {
            panic!()
        };
        assert_eq!(
            path, "/a/s-0000000003",
            "deletes do not reuse sequence numbers"
        );
    }

    #[test]
    fn create_errors_come_in_zookeepers_order() {
        let mut f = Fixture::new();
        assert_eq!(f.create("/x", 7), failed(ErrorCode::BadArguments));
        assert_eq!(
            f.create("/x", 5),
            failed(ErrorCode::BadArguments),
            "ttl -1 with a TTL flag"
        );
        assert_eq!(f.create("noslash", 0), failed(ErrorCode::BadArguments));
        assert_eq!(f.create("/missing/x", 0), failed(ErrorCode::NoNode));
        assert_eq!(f.create("/bad/", 0), failed(ErrorCode::NoNode));
        assert_eq!(f.create("/.", 0), failed(ErrorCode::BadArguments));
        assert_eq!(f.create("/zookeeper", 0), failed(ErrorCode::NodeExists));
        assert_eq!(f.create("/", 0), failed(ErrorCode::NodeExists));
        f.create("/eph", 1);
        assert_eq!(
            f.create("/eph/child", 0),
            failed(ErrorCode::NoChildrenForEphemerals)
        );
        let bad_acl = WriteOp::Create {
            op: CreateOp::Create,
            path: "/y".into(),
            data: None,
            acl: vec![acl(31, "world", "bob")],
            flags: 0,
            ttl: -1,
        };
        assert_eq!(f.op(bad_acl), failed(ErrorCode::InvalidAcl));
        f.policy.extended_types = false;
        assert_eq!(
            f.op(create_op(CreateOp::Ttl, "/t", 5)),
            failed(ErrorCode::Unimplemented)
        );
    }

    /// ZooKeeper's order: standalone, a reconfig in progress, the version, the server lists,
    /// a synced quorum of the new voters, then WRITE on `/zookeeper/config` (super only); then
    /// what this server does not build.
    #[test]
    fn a_reconfig_is_checked_in_zookeepers_order() {
        let mut f = Fixture::new();
        let reconfig = |joining: &str, from_config| {
            WriteRequest::Reconfig(Reconfig {
                joining: Some(joining.into()),
                leaving: None,
                new_members: None,
                from_config,
            })
        };
        let valid = "server.100=0.0.0.0:1234:2345:observer;0.0.0.0:3456";
        let answer = |f: &mut Fixture, request| match f.run(request).reply {
            WriteReply::Single(OpResult::Failed(err)) => err,
            other => panic!("unexpected reply {other:?}"),
        };
        assert_eq!(
            answer(&mut f, reconfig(valid, -1)),
            ErrorCode::Unimplemented
        );
        let config = b"server.1=h:1:2:participant\nserver.2=h:3:4:participant\nversion=0";
        f.tree.set_config(config, 0, 0);
        f.policy.ensemble = true;
        f.quorum.in_progress = true;
        assert_eq!(
            answer(&mut f, reconfig("some thing", 7)),
            ErrorCode::ReconfigInProgress
        );
        f.quorum.in_progress = false;
        assert_eq!(
            answer(&mut f, reconfig("some thing", 7)),
            ErrorCode::BadVersion
        );
        assert_eq!(
            answer(&mut f, reconfig("some thing", 0)),
            ErrorCode::BadArguments
        );
        let voters = |f: &mut Fixture, joining: &str| {
            let request = WriteRequest::Reconfig(Reconfig {
                joining: None,
                leaving: None,
                new_members: Some(joining.into()),
                from_config: 0,
            });
            answer(f, request)
        };
        f.quorum.synced = vec![1];
        assert_eq!(
            voters(&mut f, "server.1=h:1:2;5,server.2=h:3:4;6,server.3=h:5:6;7"),
            ErrorCode::NewConfigNoQuorum,
            "only the leader is synced"
        );
        f.quorum.synced = vec![1, 2];
        assert_eq!(answer(&mut f, reconfig(valid, -1)), ErrorCode::NoAuth);
        f.ids.push(AuthId::new("super", ""));
        assert_eq!(
            voters(&mut f, "server.1=h:1:2;5,server.2=h:3:9;6"),
            ErrorCode::Unimplemented,
            "a voter moved"
        );
        assert_eq!(f.tree.get(CONFIG_PATH).unwrap().data(), Some(&config[..]));

        let zxid = f.header().zxid;
        let (prepared, changes) = f.run_watched(reconfig(valid, 0));
        let expected = format!(
            "server.1=h:1:2:participant\nserver.2=h:3:4:participant\n{valid}\nversion={zxid:x}"
        );
        let WriteReply::Single(OpResult::Reconfigured { config, stat }) = prepared.reply else {
            panic!("unexpected reply {:?}", prepared.reply);
        };
        assert_eq!(config, expected.as_bytes());
        assert_eq!((stat.version, stat.mzxid), (-1, zxid));
        assert_eq!(
            f.tree.get(CONFIG_PATH).unwrap().data(),
            Some(expected.as_bytes())
        );
        assert_eq!(changes, vec![Change::DataChanged(CONFIG_PATH.into())]);
        assert_eq!(
            answer(&mut f, reconfig(valid, 0)),
            ErrorCode::BadVersion,
            "the configuration moved on"
        );
        let leave = WriteRequest::Reconfig(Reconfig {
            joining: None,
            leaving: Some("100".into()),
            new_members: None,
            from_config: zxid,
        });
        let WriteReply::Single(OpResult::Reconfigured { config, .. }) = f.run(leave).reply else {
            panic!("the observer should leave");
        };
        assert!(!String::from_utf8_lossy(&config).contains("server.100"));

        let third = WriteRequest::Reconfig(Reconfig {
            joining: Some("server.3=h:5:6;7".into()),
            leaving: None,
            new_members: None,
            from_config: -1,
        });
        let WriteReply::Single(OpResult::Reconfigured { config, .. }) = f.run(third).reply else {
            panic!("a third voter should join while two of three are synced");
        };
        assert!(String::from_utf8_lossy(&config).contains("server.3=h:5:6:participant;0.0.0.0:7"));
    }

    /// With `enforceQuota`, a create or a set over a hard limit fails; over a soft limit it
    /// only logs; without the setting nothing is refused.
    #[test]
    fn writes_over_a_hard_quota_fail_when_quotas_are_enforced() {
        let mut f = Fixture::new();
        let data_op = |path: &str, data: &'static [u8]| WriteOp::SetData {
            path: path.into(),
            data: Some(Bytes::from_static(data)),
            version: -1,
        };
        let create_with = |path: &str, data: &'static [u8]| WriteOp::Create {
            op: CreateOp::Create,
            path: path.into(),
            data: Some(Bytes::from_static(data)),
            acl: open_acl_unsafe(),
            flags: 0,
            ttl: -1,
        };
        let created = |result| matches!(result, OpResult::Created { .. });
        f.create("/q", 0);
        f.create("/zookeeper/quota/q", 0);
        f.op(create_with(
            "/zookeeper/quota/q/zookeeper_limits",
            b"count=-1,bytes=-1=;byteHardLimit=4;countHardLimit=2",
        ));
        f.op(create_with(
            "/zookeeper/quota/q/zookeeper_stats",
            b"count=0,bytes=0",
        ));
        f.policy.enforce_quota = true;
        assert!(created(f.create("/q/a", 0)));
        assert_eq!(f.create("/q/b", 0), failed(ErrorCode::QuotaExceeded));
        assert_eq!(
            f.op(data_op("/q/a", b"1234")),
            failed(ErrorCode::QuotaExceeded)
        );
        assert!(matches!(f.op(data_op("/q/a", b"123")), OpResult::Stat(_)));
        assert!(created(f.create("/elsewhere", 0)));
        f.policy.enforce_quota = false;
        assert!(created(f.create("/q/b", 0)));
    }

    /// A learner replaying a committed transaction rebuilds the reply and the tree the leader's
    /// preparation produced, for every kind of write, failed ones included.
    #[test]
    fn replay_on_a_learner_matches_the_leaders_preparation() {
        let mut leader = Fixture::new();
        let mut learner = leader.tree.clone();
        let set = |path: &str, version| WriteOp::SetData {
            path: path.into(),
            data: Some(Bytes::from_static(b"new")),
            version,
        };
        let requests = vec![
            WriteRequest::Op(create_op(CreateOp::Create, "/a", 0)),
            WriteRequest::Op(create_op(CreateOp::Create2, "/a/seq-", 2)),
            WriteRequest::Op(create_op(CreateOp::Container, "/c", 0)),
            WriteRequest::Op(create_op(CreateOp::Create, "/a", 0)),
            WriteRequest::Op(set("/a", 0)),
            WriteRequest::Op(set("/a", 7)),
            WriteRequest::Multi(vec![
                set("/a", 1),
                set("/a", 2),
                create_op(CreateOp::Create2, "/m", 0),
                WriteOp::Check {
                    path: "/m".into(),
                    version: 0,
                },
            ]),
            WriteRequest::Multi(vec![
                create_op(CreateOp::Create, "/n", 0),
                set("/missing", -1),
            ]),
            WriteRequest::Op(WriteOp::Delete {
                path: "/c".into(),
                version: -1,
            }),
            WriteRequest::Fail(ErrorCode::ReconfigDisabled),
            WriteRequest::CloseSession,
        ];
        for request in requests {
            let header = leader.header();
            let (prepared, committed_changes) = leader.run_watched(request.clone());
            let (changes, reply) = replay(&mut learner, &header, &prepared.txn, &request);
            assert_eq!(reply, prepared.reply, "{request:?}");
            assert_eq!(changes, committed_changes, "{request:?}");
            assert_eq!(learner.last_zxid(), leader.tree.last_zxid());
            for (path, node) in leader.tree.walk() {
                assert_eq!(
                    learner.get(&path).map(|n| n.stat()),
                    Some(node.stat()),
                    "{path}"
                );
            }
            assert_eq!(learner.node_count(), leader.tree.node_count());
        }
    }

    #[test]
    fn failed_writes_still_take_a_zxid() {
        let mut f = Fixture::new();
        f.create("/a", 0);
        let before = f.tree.last_zxid();
        assert_eq!(f.create("/a", 0), failed(ErrorCode::NodeExists));
        assert_eq!(f.tree.last_zxid(), before + 1);
    }

    #[test]
    fn delete_and_set_data_checks() {
        let mut f = Fixture::new();
        f.create("/a", 0);
        f.create("/a/b", 0);
        let delete = |path: &str, version| WriteOp::Delete {
            path: path.into(),
            version,
        };
        assert_eq!(
            f.op(delete("/zookeeper", -1)),
            failed(ErrorCode::BadArguments)
        );
        assert_eq!(f.op(delete("/", -1)), failed(ErrorCode::BadArguments));
        assert_eq!(f.op(delete("/nope", -1)), failed(ErrorCode::NoNode));
        assert_eq!(f.op(delete("/a", 3)), failed(ErrorCode::BadVersion));
        assert_eq!(f.op(delete("/a", -1)), failed(ErrorCode::NotEmpty));
        let set = |version| WriteOp::SetData {
            path: "/a".into(),
            data: None,
            version,
        };
        assert_eq!(f.op(set(5)), failed(ErrorCode::BadVersion));
        let OpResult::Stat(stat) = f.op(set(0)) else {
            panic!()
        };
        assert_eq!((stat.version, stat.data_length), (1, 0));
        assert_eq!(
            f.tree.get("/a").unwrap().data(),
            None,
            "null data stays null"
        );
    }

    #[test]
    fn acls_are_enforced_and_expanded() {
        let mut f = Fixture::new();
        f.ids.push(AuthId::new("digest", digest_id("bob:secret")));
        let creator = WriteOp::Create {
            op: CreateOp::Create,
            path: "/private".into(),
            data: None,
            acl: vec![zk_proto::Acl {
                perms: 31,
                id: zk_proto::Id {
                    scheme: Some("auth".into()),
                    id: None,
                },
            }],
            flags: 0,
            ttl: -1,
        };
        assert!(matches!(f.op(creator), OpResult::Created { .. }));
        assert_eq!(
            &*f.tree.get("/private").unwrap().acl,
            &[acl(31, "digest", &digest_id("bob:secret"))]
        );
        f.ids.pop();
        assert_eq!(f.create("/private/x", 0), failed(ErrorCode::NoAuth));
        let set = WriteOp::SetData {
            path: "/private".into(),
            data: None,
            version: -1,
        };
        assert_eq!(f.op(set), failed(ErrorCode::NoAuth));
    }

    #[test]
    fn multi_is_atomic_and_reports_like_zookeeper() {
        let mut f = Fixture::new();
        let before = f.tree.clone();
        let ops = vec![
            create_op(CreateOp::Create, "/m", 0),
            WriteOp::Delete {
                path: "/nothere".into(),
                version: -1,
            },
            WriteOp::SetData {
                path: "/m".into(),
                data: None,
                version: -1,
            },
        ];
        let prepared = f.run(WriteRequest::Multi(ops));
        assert_eq!(
            prepared.reply,
            WriteReply::Multi(vec![
                failed(ErrorCode::Ok),
                failed(ErrorCode::NoNode),
                failed(ErrorCode::RuntimeInconsistency),
            ])
        );
        assert!(f.tree.get("/m").is_none(), "nothing applied");
        assert_eq!(f.tree.last_zxid(), before.last_zxid() + 1);
        let ops = vec![
            create_op(CreateOp::Create, "/m", 0),
            create_op(CreateOp::Create, "/m/c", 0),
            WriteOp::Check {
                path: "/m".into(),
                version: 0,
            },
        ];
        let (prepared, changes) = f.run_watched(WriteRequest::Multi(ops));
        let WriteReply::Multi(results) = prepared.reply else {
            panic!()
        };
        assert_eq!(results.len(), 3);
        assert_eq!(results[2], OpResult::Checked);
        assert_eq!(
            changes,
            vec![Change::Created("/m".into()), Change::Created("/m/c".into())]
        );
    }

    #[test]
    fn close_session_removes_ephemerals() {
        let mut f = Fixture::new();
        f.create("/e1", 1);
        f.create("/e2", 3);
        assert_eq!(f.tree.ephemerals_of(SESSION).len(), 2);
        let (_, changes) = f.run_watched(WriteRequest::CloseSession);
        assert_eq!(changes.len(), 2);
        assert!(f.tree.get("/e1").is_none());
        assert!(f.tree.session_timeout(SESSION).is_none());
        assert_eq!(f.tree.ephemeral_count(), 0);
    }

    #[test]
    fn containers_and_ttl_nodes_hide_their_owner() {
        let mut f = Fixture::new();
        f.op(create_op(CreateOp::Container, "/c", 0));
        f.op(create_op(CreateOp::Ttl, "/t", 5));
        assert_eq!(f.tree.get("/c").unwrap().owner(), CONTAINER_OWNER);
        assert_eq!(f.stat("/c").ephemeral_owner, 0);
        assert_eq!(f.stat("/t").ephemeral_owner, 0);
        assert_eq!(f.tree.reapable().count(), 2);
        let delete = WriteRequest::DeleteContainer { path: "/c".into() };
        f.run(delete);
        assert!(f.tree.get("/c").is_none());
    }

    #[test]
    fn sequence_suffix_matches_java() {
        let sequence_suffix = |counter| {
            let mut suffix = String::new();
            push_sequence_suffix(&mut suffix, counter);
            suffix
        };
        assert_eq!(sequence_suffix(0), "0000000000");
        assert_eq!(sequence_suffix(42), "0000000042");
        assert_eq!(sequence_suffix(-1), "-000000001");
    }

    #[test]
    fn snapshot_round_trips_the_tree() {
        let mut f = Fixture::new();
        f.create("/a", 0);
        f.create("/a/b", 1);
        f.op(create_op(CreateOp::Container, "/c", 0));
        let mut bytes = Vec::new();
        crate::snapshot::write_tree(&f.tree, &mut bytes).unwrap();
        let back = crate::snapshot::read_tree(bytes.as_slice()).unwrap();
        assert_eq!(back.last_zxid(), f.tree.last_zxid());
        assert_eq!(back.node_count(), f.tree.node_count());
        for (path, node) in f.tree.walk() {
            let other = back.get(&path).unwrap();
            assert_eq!(other.stat(), node.stat(), "{path}");
            assert_eq!(other.data(), node.data());
            assert_eq!(other.acl, node.acl);
        }
        assert_eq!(back.ephemerals_of(SESSION), f.tree.ephemerals_of(SESSION));
        assert_eq!(back.session_timeout(SESSION), Some(30_000));
        for cut in [0, 7, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                crate::snapshot::read_tree(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
    }
}
